"""MIDI file writer: write hits + CC automation, read back with mido (round trip)."""

from __future__ import annotations

from pathlib import Path

import mido
import numpy as np
import pytest

from scrapl_live.control.mapping import Mapping, default_mapping
from scrapl_live.control.midifile import MidiFileSink
from tests.control.hits import event

NAMES = ["pitch", "decay", "tone"]
SR = 44100


def _timed(path: Path) -> list[tuple[float, mido.Message]]:
    """(absolute seconds, message) for every channel message of the file."""
    t, out = 0.0, []
    for msg in mido.MidiFile(str(path)):  # iterating a MidiFile yields delta times in seconds
        t += msg.time
        if not msg.is_meta:
            out.append((t, msg))
    return out


@pytest.mark.parametrize("bits", [7, 14])
def test_hits_round_trip(tmp_path: Path, bits: int) -> None:
    mapping = default_mapping(NAMES, bits=bits, channel=2, note=40)
    path = tmp_path / "hits.mid"
    sink = MidiFileSink(path, mapping, NAMES, SR, tempo_bpm=100, ticks_per_beat=480)
    rng = np.random.default_rng(1)
    times = [0, 22050, 30000, 123456]
    thetas = rng.uniform(size=(4, 3)).astype(np.float32)
    vels = [1.0, 0.5, 0.25, 0.01]
    for t, th, v in zip(times, thetas, vels, strict=True):
        sink.on_hit(event(t, v, th))
    sink.close()
    events = _timed(path)
    notes = [(t, m) for t, m in events if m.type == "note_on"]
    offs = [(t, m) for t, m in events if m.type == "note_off"]
    assert len(notes) == len(offs) == 4
    tick_s = 60 / 100 / 480
    for (t, m), t_hit, v in zip(notes, times, vels, strict=True):
        assert abs(t - t_hit / SR) <= tick_s and m.note == 40 and m.channel == 1
        assert m.velocity == max(1, round(v * 127))
    for (t, _), t_hit in zip(offs, times, strict=True):
        assert abs(t - (t_hit / SR + mapping.note_length)) <= tick_s
    # CC values: the quantised predictions, decoded back within half a step
    ccs = [m for _, m in events if m.type == "control_change"]
    per_hit = len(NAMES) * (1 if bits == 7 else 2)
    assert len(ccs) == 4 * per_hit
    top = 127 if bits == 7 else 16383
    for h, th in enumerate(thetas):
        vals = {m.control: m.value for m in ccs[h * per_hit:(h + 1) * per_hit]}
        for i, name in enumerate(NAMES):
            cc = mapping[name].cc
            q = vals[cc] if bits == 7 else (vals[cc] << 7) | vals[cc + 32]
            assert q == round(float(th[i]) * top)
            assert abs(q / top - th[i]) <= 0.5 / top + 1e-6


def test_param_automation_and_retrigger(tmp_path: Path) -> None:
    params = {"pitch": {"cc": 20}, "tone": {"cc": 21}}
    mapping = Mapping.from_dict({"midi": {"note_length": 0.5}, "params": params})
    path = tmp_path / "auto.mid"
    sink = MidiFileSink(path, mapping, NAMES, SR)
    sink.on_hit(event(0, 1.0, np.array([0.0, 0.3, 0.0], np.float32)))
    sink.on_hit(event(SR // 10, 1.0, np.array([0.0, 0.3, 0.0], np.float32)))  # 0.1 s < note_length
    for k in range(5):  # a sweep of pitch; tone unchanged -> no new tone CC; decay is not mapped
        sink.on_params(SR // 5 + k * 441, np.array([k / 4, 0.9, 0.0], np.float32), {})
    sink.close()
    events = _timed(path)
    note_msgs = [(round(t, 3), m.type) for t, m in events if m.type in ("note_on", "note_off")]
    assert note_msgs == [(0.0, "note_on"), (0.1, "note_off"), (0.1, "note_on"), (0.6, "note_off")]
    pitch = [m.value for _, m in events if m.type == "control_change" and m.control == 20]
    assert pitch == [0, 0, 32, 64, 95, 127]  # hit 1, then the sweep (hit 2's and k=0's values unchanged)
    tone = [m.value for _, m in events if m.type == "control_change" and m.control == 21]
    assert tone == [0, 0]


def test_refinements_rewrite_the_hits_ccs_at_its_onset(tmp_path: Path) -> None:
    mapping = Mapping.from_dict({"params": {"pitch": {"cc": 20}, "tone": {"cc": 21, "bits": 14}}})
    path = tmp_path / "refined.mid"
    sink = MidiFileSink(path, mapping, NAMES, SR)
    sink.on_hit(event(1000, 1.0, [0.1, 0.0, 0.2], hit_id=1, final=False))
    sink.on_hit(event(9000, 0.5, [0.9, 0.0, 0.8], hit_id=2, final=False))  # before hit 1's refinement
    sink.on_refine(event(1000, 1.0, [0.4, 0.0, 0.6], hit_id=1, stage=1, final=True))
    sink.on_refine(event(9000, 0.5, [0.7, 0.0, 0.5], hit_id=2, stage=1, final=True))
    with pytest.raises(ValueError, match="hit 9"):
        sink.on_refine(event(0, 1.0, [0.0, 0.0, 0.0], hit_id=9, stage=1))
    sink.close()
    events = _timed(path)
    for onset, th in ((1000, [0.4, 0.0, 0.6]), (9000, [0.7, 0.0, 0.5])):
        at = [m for t, m in events if abs(t - onset / SR) < 1e-3]
        assert [m.type for m in at] == ["control_change"] * 3 + ["note_on"]  # one CC set, then the note
        vals = {m.control: m.value for m in at[:3]}
        assert vals[20] == round(th[0] * 127) and (vals[21] << 7 | vals[53]) == round(th[2] * 16383)


def test_bad_arguments(tmp_path: Path) -> None:
    mapping = default_mapping(NAMES)
    with pytest.raises(FileNotFoundError, match="folder"):
        MidiFileSink(tmp_path / "missing" / "x.mid", mapping, NAMES, SR)
    with pytest.raises(ValueError, match="sample_rate"):
        MidiFileSink(tmp_path / "x.mid", mapping, NAMES, 0)
    sink = MidiFileSink(tmp_path / "x.mid", mapping, NAMES, SR)
    with pytest.raises(ValueError, match="t_samples"):
        sink.on_hit(event(-5, 0.5, np.zeros(3)))
