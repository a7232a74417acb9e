"""Classified hits through the MIDI sinks: each class on its note, the confidence CC, markers in the file."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np

from scrapl_live.control.mapping import default_mapping
from scrapl_live.control.midi import MidiSink
from scrapl_live.control.midifile import MidiFileSink
from scrapl_live.live.events import HitEvent

NAMES = ["a", "b"]
SR = 48000


def _event(i: int, t: int, label: str | None, conf: float | None) -> HitEvent:
    theta = np.array([0.25, 0.75], np.float32)
    return HitEvent(i, t, 0.8, theta, {"a": 0.25, "b": 0.75}, 0, True, label, conf)


HITS = [(0, "kick", 0.9), (SR // 4, "closed_hat", 0.6), (SR // 2, "snare", 1.0), (3 * SR // 4, None, None)]


def test_midi_file_has_class_notes_confidence_and_markers(tmp_path: Path) -> None:
    mapping = default_mapping(NAMES)
    sink = MidiFileSink(tmp_path / "h.mid", mapping, NAMES, SR)
    for i, (t, label, conf) in enumerate(HITS):
        sink.on_hit(_event(i, t, label, conf))
    sink.close()
    msgs = list(mido.MidiFile(tmp_path / "h.mid").tracks[0])
    notes = [m.note for m in msgs if m.type == "note_on"]
    assert notes == [36, 42, 38, mapping.note]
    conf = [m.value for m in msgs if m.type == "control_change" and m.control == mapping.confidence_cc]
    assert conf == [round(0.9 * 127), round(0.6 * 127), 127]
    assert [m.text for m in msgs if m.type == "marker"] == ["kick 0.90", "closed_hat 0.60", "snare 1.00"]
    offs = [m.note for m in msgs if m.type == "note_off"]
    assert sorted(offs) == sorted(notes)  # every note is ended on its own note number


def test_a_hat_over_a_ringing_kick_does_not_cut_the_kick_note(tmp_path: Path) -> None:
    mapping = default_mapping(NAMES)
    sink = MidiFileSink(tmp_path / "h.mid", mapping, NAMES, SR)
    sink.on_hit(_event(0, 0, "kick", 0.9))
    sink.on_hit(_event(1, 100, "closed_hat", 0.9))  # inside the kick's note length
    sink.close()
    t, ends = 0, {}
    for m in mido.MidiFile(tmp_path / "h.mid").tracks[0]:
        t += m.time
        if m.type == "note_off":
            ends[m.note] = t
    ticks_per_note = mido.second2tick(mapping.note_length, 960, mido.bpm2tempo(120))
    assert ends[36] >= round(ticks_per_note) - 1  # the kick keeps its full length


class _Port:
    """Collects what an rtmidi.MidiOut would send."""

    def __init__(self) -> None:
        self.sent: list[list[int]] = []

    def send_message(self, msg: list[int]) -> None:
        self.sent.append(list(msg))

    def close_port(self) -> None: ...

    def delete(self) -> None: ...


def test_live_midi_sends_the_class_note_and_ends_it() -> None:
    mapping = default_mapping(NAMES)
    port = _Port()
    sink = MidiSink(mapping, NAMES, SR, midi_out=port)
    sink.on_hit(_event(0, 0, "open_hat", 0.5))
    sink.close()
    ons = [m for m in port.sent if m[0] & 0xF0 == 0x90]
    offs = [m for m in port.sent if m[0] & 0xF0 == 0x80]
    assert [m[1] for m in ons] == [46] and [m[1] for m in offs] == [46]
    assert [0xB0, mapping.confidence_cc, 64] in port.sent


def test_a_class_plugin_gets_only_its_own_hits(tmp_path: Path) -> None:
    from scrapl_live.control.mapping import load_mapping
    from scrapl_live.control.routing import ClassRouted, class_plugin_sinks

    path = tmp_path / "map.toml"
    path.write_text('[params.a]\nplugin = "room_size"\n\n[classes.snare]\nplugin = "builtin:Reverb"\n')
    mapping = load_mapping(path)
    (sink,) = class_plugin_sinks(mapping, NAMES, SR)
    assert isinstance(sink, ClassRouted) and sink.label == "snare"
    reverb = sink.sink.plugin
    block = np.zeros(256, np.float32)
    before = reverb.room_size
    sink.on_hit(_event(0, 0, "kick", 0.9))  # θ_a = 0.25: would set room_size 0.25
    sink.render(block, 0)
    assert reverb.room_size == before
    sink.on_hit(_event(1, 256, "snare", 0.9))
    sink.render(block, 256)
    assert abs(reverb.room_size - 0.25) < 1e-6
    sink.close()


def test_a_bad_class_plugin_names_the_class(tmp_path: Path) -> None:
    import pytest

    from scrapl_live.control.mapping import load_mapping
    from scrapl_live.control.routing import class_plugin_sinks

    path = tmp_path / "map.toml"
    path.write_text('[params.a]\ncc = 20\n\n[classes.kick]\nplugin = "builtin:NoSuchPlugin"\n')
    with pytest.raises(ValueError, match="classes.kick.plugin"):
        class_plugin_sinks(load_mapping(path), NAMES, SR)


def _refined(i: int, t: int, label: str, conf: float, theta_a: float) -> HitEvent:
    theta = np.array([theta_a, 0.75], np.float32)
    return HitEvent(i, t, 0.8, theta, {"a": theta_a, "b": 0.75}, 1, True, label, conf)


def test_a_refined_class_moves_the_hit_to_its_plugin_without_a_second_note(tmp_path: Path) -> None:
    from scrapl_live.control.mapping import load_mapping
    from scrapl_live.control.routing import class_plugin_sinks

    path = tmp_path / "map.toml"
    path.write_text('[params.a]\nplugin = "room_size"\n\n[classes.snare]\nplugin = "builtin:Reverb"\n\n'
                    '[classes.kick]\nplugin = "builtin:Reverb"\n')
    sinks = {s.label: s for s in class_plugin_sinks(load_mapping(path), NAMES, SR)}
    block = np.zeros(256, np.float32)
    kick, snare = sinks["kick"].sink.plugin, sinks["snare"].sink.plugin
    first = _event(0, 0, "kick", 0.5)  # θ_a = 0.25
    for s in sinks.values():
        s.on_hit(first)
        s.render(block, 0)
    snare_before = snare.room_size
    assert abs(kick.room_size - 0.25) < 1e-6
    for s in sinks.values():  # heard longer: a snare, θ_a = 0.6
        s.on_refine(_refined(0, 0, "snare", 0.8, 0.6))
        s.render(block, 256)
    assert abs(snare.room_size - 0.6) < 1e-6 and snare_before != snare.room_size
    assert abs(kick.room_size - 0.25) < 1e-6  # the kick plugin no longer follows this hit
    for s in sinks.values():
        s.close()


def test_live_midi_refinement_updates_the_confidence_but_not_the_note() -> None:
    mapping = default_mapping(NAMES)
    port = _Port()
    sink = MidiSink(mapping, NAMES, SR, midi_out=port)
    sink.on_hit(_event(0, 0, "kick", 0.5))
    sink.on_refine(_refined(0, 0, "snare", 1.0, 0.25))
    sink.on_refine(_refined(0, 0, "snare", 1.0, 0.25))  # unchanged: nothing new
    sink.close()
    conf = [m[2] for m in port.sent if m[0] & 0xF0 == 0xB0 and m[1] == mapping.confidence_cc]
    assert conf == [64, 127]
    assert [m[1] for m in port.sent if m[0] & 0xF0 == 0x90] == [36]  # one note: the first label's
    assert [m[1] for m in port.sent if m[0] & 0xF0 == 0x80] == [36]
