"""Real-time MIDI out (python-rtmidi): one note per hit, one CC (or 14-bit CC pair) per parameter.

The port is a virtual output (other programs connect to it) unless a port name is given, in which case
we connect to that existing MIDI input. On Linux without ALSA's sequencer (``/dev/snd/seq`` missing,
e.g. containers and CI) the JACK MIDI API is used instead.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from scrapl_live.control.mapping import Mapping
from scrapl_live.live.events import HitEvent

log = logging.getLogger(__name__)

CLOSE_DRAIN_S = 0.05  # covers several JACK periods (256 frames at 48 kHz = 5.3 ms each)


def midi_api() -> int:
    """The rtmidi API to use: on Linux ALSA when its sequencer exists, else JACK; elsewhere the default."""
    import rtmidi

    if not sys.platform.startswith("linux"):
        return rtmidi.API_UNSPECIFIED
    if os.path.exists("/dev/snd/seq") or rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        return rtmidi.API_LINUX_ALSA
    return rtmidi.API_UNIX_JACK


def open_midi_out(port: str | None = None, client_name: str = "scrapl-live", api: int | None = None) -> Any:
    """Open an ``rtmidi.MidiOut``: a virtual port ``"<client_name>:out"``, or the existing port ``port``.

    ``port`` matches a port name exactly, else as a unique substring. A missing port raises ValueError
    listing the available ones; no MIDI system (e.g. JACK not running) raises RuntimeError.
    """
    import rtmidi

    api = midi_api() if api is None else api
    try:
        out = rtmidi.MidiOut(rtapi=api, name=client_name)
    except rtmidi.RtMidiError as exc:
        hint = " (is a JACK server running?)" if api == rtmidi.API_UNIX_JACK else ""
        name = rtmidi.get_api_display_name(api)
        raise RuntimeError(f"cannot open the MIDI system ({name}){hint}: {exc}") from exc
    if port is None:
        out.open_virtual_port("out")
        log.info("MIDI out: virtual port %s:out", client_name)
        return out
    ports = out.get_ports()
    matches = [i for i, p in enumerate(ports) if p == port] or [i for i, p in enumerate(ports) if port in p]
    if len(matches) != 1:
        out.delete()
        what = "no" if not matches else "more than one"
        raise ValueError(f"midi port: {what} MIDI output port matches {port!r}; available: {ports}")
    out.open_port(matches[0], name="out")
    log.info("MIDI out: connected to %s", ports[matches[0]])
    return out


class MidiSink:
    """Live-engine sink sending each hit as CCs + note-on (note-off ``note_length`` later) to a MIDI port.

    Implements ``HitSink.on_hit`` (CCs + note-on with a hit's first prediction), ``HitSink.on_refine``
    (the CCs a refinement changed; with the mapping's ``cc_once`` every CC once, with the final
    prediction, and none before), ``ParamSink.on_params`` (CCs whose value changed),
    ``AudioSink.render`` (leaves the audio untouched; it is the engine's block clock that sends the due
    note-off) and ``ClosableSink.close`` (sends a pending note-off, closes the port). A new hit before
    the previous note-off ends the previous note first, so the retriggered note is not cut short.
    """

    def __init__(
        self,
        mapping: Mapping,
        param_names: Sequence[str],
        sample_rate: int,
        port: str | None = None,
        client_name: str = "scrapl-live",
        midi_out: Any | None = None,
    ) -> None:
        """``midi_out``: an already open rtmidi.MidiOut (else one is opened with :func:`open_midi_out`)."""
        mapping.check_names(param_names)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.mapping = mapping
        self.param_names = list(param_names)
        self.sample_rate = int(sample_rate)
        self._out = midi_out if midi_out is not None else open_midi_out(port, client_name)
        self._off_due: int | None = None
        self._off_label: str | None = None  # drum class of the pending note-off (its note)
        self._last_cc: dict[int, int] = {}
        self.sent = 0

    def _send(self, msg: list[int]) -> None:
        self._out.send_message(msg)
        self.sent += 1
        if msg[0] & 0xF0 == 0xB0:
            self._last_cc[msg[1]] = msg[2]

    def _advance(self, now: int | None) -> None:
        """Send the pending note-off if it is due at or before ``now`` (None: send it now)."""
        if self._off_due is not None and (now is None or self._off_due <= now):
            self._send(self.mapping.note_off_bytes(self._off_label))
            self._off_due = None

    def on_hit(self, event: HitEvent) -> None:
        """CCs (unless ``cc_once`` holds them for the final prediction) then note-on now; the note-off is due
        at the onset + ``note_length``."""
        self._advance(None)
        if not self.mapping.cc_once or event.final:
            for msg in self.mapping.cc_bytes(event.theta, self.param_names):
                self._send(msg)
        for msg in self.mapping.confidence_bytes(event.confidence):
            self._send(msg)
        self._send(self.mapping.note_on_bytes(event.velocity, event.label))  # the class picks the note
        self._off_due = event.t_samples + self.mapping.note_samples(self.sample_rate)
        self._off_label = event.label

    def on_refine(self, event: HitEvent) -> None:
        """A refinement: the CCs whose value it changed, now (``cc_once``: all of them, if it is final), and
        the confidence CC if the refined class's confidence changed it; the note already sent stays."""
        if not self.mapping.cc_once:
            self._send_changed(event.theta)
        elif event.final:
            for msg in self.mapping.cc_bytes(event.theta, self.param_names):
                self._send(msg)
        for msg in self.mapping.confidence_bytes(event.confidence):
            if self._last_cc.get(msg[1]) != msg[2]:
                self._send(msg)

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        """Send the controllers whose quantised value changed since the last send."""
        self._advance(t_samples)
        self._send_changed(theta)

    def _send_changed(self, theta: np.ndarray) -> None:
        """The controllers whose quantised value changed since the last send; a sent 14-bit MSB is always
        followed by its LSB (receivers reset the LSB on a new MSB)."""
        prev = -1
        for msg in self.mapping.cc_bytes(theta, self.param_names):
            if self._last_cc.get(msg[1]) != msg[2] or prev == msg[1] - 32:
                self._send(msg)
                prev = msg[1]

    def render(self, block: np.ndarray, t_samples: int) -> None:
        """Block clock: send the note-off if due before the block's end; ``block`` is not modified."""
        self._advance(t_samples + len(block) - 1)

    def close(self) -> None:
        """Send a pending note-off and close the port once the MIDI system has had time to deliver it.

        JACK hands queued messages over at its next process cycles; closing the port at once could drop
        the note-off and leave the receiving instrument with a hanging note.
        """
        sent_before = self.sent
        self._advance(None)
        if self.sent != sent_before:
            time.sleep(CLOSE_DRAIN_S)
        self._out.close_port()
        self._out.delete()
