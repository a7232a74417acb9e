"""Real-time MIDI out through a real JACK MIDI graph: bytes read back by an rtmidi input."""

from __future__ import annotations

import time

import numpy as np
import pytest

from scrapl_live.control.mapping import Mapping
from scrapl_live.control.midi import MidiSink, open_midi_out
from tests.control.hits import event

needs_jack = pytest.mark.usefixtures("jack_server")

NAMES = ["pitch", "decay", "tone"]
MAPPING = Mapping.from_dict({
    "midi": {"channel": 10, "note": 38, "note_length": 0.05},
    "params": {"pitch": {"cc": 20, "bits": 14}, "decay": {"cc": 21}, "tone": {"cc": 22, "bits": 14}},
})
SR = 48000


def _jack_in(name: str):
    import rtmidi

    return rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=name)


def _read(midi_in, n: int, wait_s: float = 5.0) -> list[list[int]]:
    """Collect ``n`` messages (waiting for JACK's next cycles), then anything else already queued."""
    got: list[list[int]] = []
    deadline = time.monotonic() + wait_s
    while len(got) < n and time.monotonic() < deadline:
        msg = midi_in.get_message()
        if msg is None:
            time.sleep(0.005)
        else:
            got.append(msg[0])
    time.sleep(0.05)
    while (msg := midi_in.get_message()) is not None:
        got.append(msg[0])
    return got


def _expected_cc(theta: np.ndarray) -> list[list[int]]:
    p = int(round(theta[0] * 16383))
    d = int(round(theta[1] * 127))
    t = int(round(theta[2] * 16383))
    return [[0xB9, 20, p >> 7], [0xB9, 52, p & 127], [0xB9, 21, d], [0xB9, 22, t >> 7], [0xB9, 54, t & 127]]


def _connect_virtual(client_name: str):
    """MidiSink on a virtual port and an rtmidi input connected to it by port name."""
    sink = MidiSink(MAPPING, NAMES, SR, client_name=client_name)
    rx = _jack_in(client_name + "-rx")
    ports = rx.get_ports()
    rx.open_port(ports.index(f"{client_name}:out"))
    time.sleep(0.05)
    return sink, rx


@pytest.mark.jack
@needs_jack
def test_hit_bytes_on_virtual_port(client_name: str) -> None:
    sink, rx = _connect_virtual(client_name)
    theta = np.array([0.3, 0.77, 0.999], dtype=np.float32)
    sink.on_hit(event(1000, 0.5, theta))
    got = _read(rx, 6)
    assert got == _expected_cc(theta) + [[0x99, 38, 64]]
    # the engine clock: a block ending before the note-off sends nothing, the next one sends it
    note_off_at = 1000 + int(0.05 * SR)
    sink.render(np.zeros(256, np.float32), note_off_at - 256)
    sink.render(np.zeros(256, np.float32), note_off_at - 1)
    assert _read(rx, 1) == [[0x89, 38, 0]]
    sink.close()
    rx.delete()


@pytest.mark.jack
@needs_jack
def test_retrigger_and_param_updates(client_name: str) -> None:
    sink, rx = _connect_virtual(client_name)
    theta = np.array([8192 / 16383, 0.5, 8200 / 16383], dtype=np.float32)
    sink.on_hit(event(0, 1.0, theta))
    sink.on_hit(event(100, 0.2, theta))  # before the first note-off is due: it ends the first note first
    got = _read(rx, 13)  # 5 CCs + note-on, then note-off + 5 CCs + note-on
    assert len(got) == 13
    assert got[5] == [0x99, 38, 127] and got[6] == [0x89, 38, 0] and got[12] == [0x99, 38, 25]
    sink.on_params(200, theta, {})  # unchanged values: nothing sent
    changed = np.array([8192 / 16383, 0.6, 8201 / 16383], dtype=np.float32)
    sink.on_params(300, changed, {})  # decay changes; of tone (8200 -> 8201) only the LSB changes
    assert _read(rx, 2) == [[0xB9, 21, int(round(0.6 * 127))], [0xB9, 54, 8201 & 127]]
    # pitch 8192 -> 8320: the MSB changes (64 -> 65), the LSB (0) does not but must follow its MSB
    sink.on_params(400, np.array([8320 / 16383, 0.6, 8201 / 16383], np.float32), {})
    assert _read(rx, 2) == [[0xB9, 20, 65], [0xB9, 52, 0]]
    sink.close()  # sends the pending note-off
    assert _read(rx, 1) == [[0x89, 38, 0]]
    rx.delete()


@pytest.mark.jack
@needs_jack
@pytest.mark.parametrize("cc_once", [False, True])
def test_refinements_update_the_ccs(client_name: str, cc_once: bool) -> None:
    layout = MAPPING.to_dict()
    mapping = Mapping.from_dict({**layout, "midi": {**layout["midi"], "cc_once": cc_once}})
    sink = MidiSink(mapping, NAMES, SR, client_name=client_name)
    rx = _jack_in(client_name + "-rx")
    rx.open_port(rx.get_ports().index(f"{client_name}:out"))
    time.sleep(0.05)
    first = np.array([8192 / 16383, 0.5, 8200 / 16383], np.float32)
    mid = np.array([8192 / 16383, 0.6, 8200 / 16383], np.float32)  # only decay changes
    last = np.array([8320 / 16383, 0.6, 8200 / 16383], np.float32)  # only the pitch MSB changes
    sink.on_hit(event(0, 1.0, first, hit_id=7, final=False))
    sink.on_refine(event(0, 1.0, mid, hit_id=7, stage=1, final=False))
    sink.on_refine(event(0, 1.0, last, hit_id=7, stage=2, final=True))
    note_on = [0x99, 38, 127]
    if cc_once:  # the note-on at once, one set of CCs with the final prediction
        expected = [note_on, *_expected_cc(last)]
    else:  # CCs + note-on, then what each refinement changed (an MSB always with its LSB)
        expected = [*_expected_cc(first), note_on, [0xB9, 21, int(round(0.6 * 127))], [0xB9, 20, 65],
                    [0xB9, 52, 0]]
    assert _read(rx, len(expected)) == expected
    sink.close()
    rx.delete()


@pytest.mark.jack
@needs_jack
def test_named_port_and_missing_port(client_name: str) -> None:
    rx = _jack_in(client_name + "-synth")
    rx.open_virtual_port("in")
    time.sleep(0.05)
    sink = MidiSink(MAPPING, NAMES, SR, port=f"{client_name}-synth:in", client_name=client_name)
    theta = np.array([0.0, 1.0, 0.25], dtype=np.float32)
    sink.on_hit(event(0, 0.8, theta))
    assert _read(rx, 6) == _expected_cc(theta) + [[0x99, 38, int(round(0.8 * 127))]]
    sink.close()
    with pytest.raises(ValueError, match=f"available: .*{client_name}-synth:in"):
        open_midi_out("no-such-port-xyz", client_name=client_name)
    rx.delete()


@pytest.mark.jack
@needs_jack
def test_sink_rejects_bad_input(client_name: str) -> None:
    with pytest.raises(ValueError, match="unknown parameter"):
        MidiSink(MAPPING, ["pitch", "decay"], SR, client_name=client_name)
    sink = MidiSink(MAPPING, NAMES, SR, client_name=client_name)
    with pytest.raises(ValueError, match="theta"):
        sink.on_hit(event(0, 0.5, np.array([0.1, np.nan, 0.2])))
    sink.close()


def test_unavailable_midi_system_is_a_clear_error(client_name: str) -> None:
    """ALSA without /dev/snd/seq (containers, CI) must fail with RuntimeError naming the MIDI system."""
    import os

    import rtmidi

    api = rtmidi.API_LINUX_ALSA
    if os.path.exists("/dev/snd/seq"):  # a desktop: the sequencer works, so the port opens
        out = open_midi_out(None, client_name=client_name, api=api)
        out.delete()
    else:
        with pytest.raises(RuntimeError, match="cannot open the MIDI system"):
            open_midi_out(None, client_name=client_name, api=api)
