"""MIDI file writer (mido): one note per hit plus CC automation of every mapped parameter.

Used as a live-engine sink (``on_hit`` / ``on_params`` collect events, ``close`` writes the file) and
offline (call ``on_hit`` for each hit of an analysed file, then ``close``). The messages are the same
bytes the real-time port sends (:class:`~scrapl_live.control.mapping.Mapping`); times are converted
from samples to ticks at a fixed tempo.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from scrapl_live.atomic import write_atomic
from scrapl_live.control.mapping import Mapping

log = logging.getLogger(__name__)


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
        self._off_index: int | None = None  # index of the last hit's note-off in _events
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

    def on_hit(self, t_samples: int, velocity: float, theta: np.ndarray, params: dict[str, float]) -> None:
        """CCs and note-on at ``t_samples``, note-off ``note_length`` later."""
        if t_samples < 0:
            raise ValueError(f"t_samples must be >= 0, got {t_samples}")
        if self._off_index is not None and self._events[self._off_index][0] > t_samples:
            self._events[self._off_index] = (t_samples, self._events[self._off_index][1])
        for msg in self.mapping.cc_bytes(theta, self.param_names):
            self._add(t_samples, msg)
        self._add(t_samples, self.mapping.note_on_bytes(velocity))
        self._off_index = len(self._events)
        self._add(t_samples + self.mapping.note_samples(self.sample_rate), self.mapping.note_off_bytes())

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
        order = sorted(range(len(self._events)), key=lambda i: (self._events[i][0], i))
        last_tick = 0
        for i in order:
            t, msg = self._events[i]
            tick = int(round(mido.second2tick(t / self.sample_rate, self.ticks_per_beat, tempo)))
            track.append(mido.Message.from_bytes(msg, time=tick - last_tick))
            last_tick = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi = mido.MidiFile(type=0, ticks_per_beat=self.ticks_per_beat)
        midi.tracks.append(track)
        write_atomic(self.path, lambda f: midi.save(file=f))
        self._closed = True
        log.info("wrote %s (%d messages)", self.path, len(self._events))
