"""MIDI file writer (mido): one note per hit plus CC automation of every mapped parameter.

A classified hit plays its class's note (:meth:`Mapping.note_for`), with the classifier's confidence on
the mapping's ``confidence_cc`` and a marker meta event naming class and confidence at its onset.

Used as a live-engine sink (``on_hit`` / ``on_refine`` / ``on_params`` collect events, ``close`` writes
the file) and offline (call ``on_hit`` for each hit of an analysed file, then ``close``).  Each hit's
note-on and its CCs sit at the hit's onset; a refinement rewrites that hit's CCs in place, so the file
holds one value per parameter and hit: its last prediction.  The messages are the same
bytes the real-time port sends (:class:`~scrapl_live.control.mapping.Mapping`); times are converted
from samples to ticks at a fixed tempo.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scrapl_live.atomic import write_atomic
from scrapl_live.control.mapping import Mapping
from scrapl_live.live.events import HitEvent

log = logging.getLogger(__name__)

RECENT_HITS = 64
"""Hits whose CCs a refinement may still rewrite (refinements follow their hit within a second)."""


class MidiFileSink:
    """Collects hits and parameter updates; ``close()`` writes a type-0 MIDI file at ``path``.

    Times: ``t_samples`` at ``sample_rate`` → ticks at ``tempo_bpm`` and ``ticks_per_beat``.
    A new hit before the previous note-off ends the previous note at the new hit's time.
    """

    def __init__(
        self,
        path: str | Path,
        mapping: Mapping,
        param_names: Sequence[str],
        sample_rate: int,
        tempo_bpm: float = 120.0,
        ticks_per_beat: int = 960,
    ) -> None:
        mapping.check_names(param_names)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not 1 <= tempo_bpm <= 1000:
            raise ValueError(f"tempo_bpm must lie in [1, 1000], got {tempo_bpm}")
        if not 24 <= ticks_per_beat <= 32767:
            raise ValueError(f"ticks_per_beat must lie in [24, 32767], got {ticks_per_beat}")
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"path: folder {self.path.parent} does not exist")
        self.mapping = mapping
        self.param_names = list(param_names)
        self.sample_rate = int(sample_rate)
        self.tempo_bpm = float(tempo_bpm)
        self.ticks_per_beat = int(ticks_per_beat)
        self._events: list[tuple[int, list[int]]] = []  # (t_samples, message), in arrival order
        self._hit_ccs: OrderedDict[int, int] = OrderedDict()  # hit_id → index of its first CC (recent hits)
        self._off_index: int | None = None  # index of the last hit's note-off in _events
        self._markers: list[tuple[int, str]] = []  # (t_samples, "class confidence") of classified hits
        self._last_cc: dict[int, int] = {}
        self._closed = False

    @property
    def n_events(self) -> int:
        """Messages collected so far."""
        return len(self._events)

    def _add(self, t: int, msg: list[int]) -> None:
        self._events.append((t, msg))
        if msg[0] & 0xF0 == 0xB0:
            self._last_cc[msg[1]] = msg[2]

    def on_hit(self, event: HitEvent) -> None:
        """CCs and note-on at the hit's onset, note-off ``note_length`` later."""
        t_samples = event.t_samples
        if t_samples < 0:
            raise ValueError(f"t_samples must be >= 0, got {t_samples}")
        note_off = self.mapping.note_off_bytes(event.label)
        if (self._off_index is not None and self._events[self._off_index][0] > t_samples
                and self._events[self._off_index][1] == note_off):  # the same note struck again
            self._events[self._off_index] = (t_samples, self._events[self._off_index][1])
        self._hit_ccs[event.hit_id] = len(self._events)
        while len(self._hit_ccs) > RECENT_HITS:
            self._hit_ccs.popitem(last=False)
        for msg in self.mapping.cc_bytes(event.theta, self.param_names):
            self._add(t_samples, msg)
        for msg in self.mapping.confidence_bytes(event.confidence):
            self._add(t_samples, msg)
        self._add(t_samples, self.mapping.note_on_bytes(event.velocity, event.label))
        self._off_index = len(self._events)
        self._add(t_samples + self.mapping.note_samples(self.sample_rate), note_off)
        if event.label is not None:
            conf = "" if event.confidence is None else f" {event.confidence:.2f}"
            self._markers.append((t_samples, f"{event.label}{conf}"))

    def on_refine(self, event: HitEvent) -> None:
        """Rewrite the CCs of hit ``event.hit_id`` (at its onset) with the refined prediction."""
        first = self._hit_ccs.get(event.hit_id)
        if first is None:
            raise ValueError(f"hit {event.hit_id} was refined but never announced (or is too old)")
        for i, msg in enumerate(self.mapping.cc_bytes(event.theta, self.param_names)):
            self._events[first + i] = (self._events[first + i][0], msg)

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        """CC automation: the controllers whose value changed (a 14-bit MSB always with its LSB)."""
        prev = -1
        for msg in self.mapping.cc_bytes(theta, self.param_names):
            if self._last_cc.get(msg[1]) != msg[2] or prev == msg[1] - 32:
                self._add(t_samples, msg)
                prev = msg[1]

    def close(self) -> None:
        """Write the file (atomically: temp file + rename). Later calls do nothing."""
        if self._closed:
            return
        import mido

        tempo = mido.bpm2tempo(self.tempo_bpm)
        track = mido.MidiTrack()
        track.append(mido.MetaMessage("track_name", name="scrapl-live", time=0))
        track.append(mido.MetaMessage("set_tempo", tempo=tempo, time=0))
        # a classified hit's marker ("snare 0.93") comes just before its messages
        items = sorted([(t, 0, i, text) for i, (t, text) in enumerate(self._markers)]
                       + [(t, 1, i, msg) for i, (t, msg) in enumerate(self._events)], key=lambda x: x[:3])
        last_tick = 0
        for t, kind, _, payload in items:
            tick = int(round(mido.second2tick(t / self.sample_rate, self.ticks_per_beat, tempo)))
            if kind == 0:
                track.append(mido.MetaMessage("marker", text=payload, time=tick - last_tick))
            else:
                track.append(mido.Message.from_bytes(payload, time=tick - last_tick))
            last_tick = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi = mido.MidiFile(type=0, ticks_per_beat=self.ticks_per_beat)
        midi.tracks.append(track)
        write_atomic(self.path, lambda f: midi.save(file=f))
        self._closed = True
        log.info("wrote %s (%d messages)", self.path, len(self._events))
