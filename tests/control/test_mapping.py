"""Mapping TOML: round trip, validation errors naming the key, default mapping, CC quantisation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrapl_live.control.mapping import (
    UNDEFINED_CCS_7BIT,
    Mapping,
    ParamMap,
    default_mapping,
    load_mapping,
    save_mapping,
)

MIDI_PART = """
[midi]
channel = 10
note = 38
note_length = 0.25
"""
PARAMS_PART = """
[params.decay]
cc = 20
bits = 14
plugin = "decay_s"
range = [0.05, 1.5]
scale = "log"

[params.tone]
cc = 74
"""
EXAMPLE = MIDI_PART + PARAMS_PART

def test_example_file_parses(tmp_path: Path) -> None:
    path = tmp_path / "map.toml"
    path.write_text(EXAMPLE)
    m = load_mapping(path)
    assert (m.channel, m.note, m.note_length) == (10, 38, 0.25)
    assert m["decay"] == ParamMap("decay", cc=20, bits=14, plugin="decay_s", range=(0.05, 1.5), scale="log")
    assert m["tone"] == ParamMap("tone", cc=74)
    assert m.names == ["decay", "tone"]


def test_round_trip(tmp_path: Path) -> None:
    src = tmp_path / "a.toml"
    src.write_text(EXAMPLE)
    m = load_mapping(src)
    assert load_mapping(save_mapping(m, tmp_path / "b.toml")) == m


@pytest.mark.parametrize(
    ("patch", "key"),
    [
        ('[midi]\nchanel = 2\n', "midi.chanel"),
        ('[midi]\nchannel = 17\n', "midi.channel"),
        ('[midi]\nnote = -1\n', "midi.note"),
        ('[midi]\nnote_length = 0\n', "midi.note_length"),
        ('[extra]\nx = 1\n', "extra"),
        ('[params.snap]\ncc = 120\n', "params.snap.cc"),
        ('[params.snap]\ncc = 40\nbits = 14\n', "params.snap.cc"),
        ('[params.snap]\ncc = 21\nbits = 12\n', "params.snap.bits"),
        ('[params.snap]\ncc = 52\n', "params.snap.cc"),  # LSB partner of decay's 14-bit cc 20
        ('[params.snap]\ncc = 74\n', "params.snap.cc"),  # same controller as tone
        ('[params.snap]\ncc = 21\ncolour = 3\n', "params.snap.colour"),
        ('[params.snap]\nplugin = "x"\nscale = "exp"\n', "params.snap.scale"),
        ('[params.snap]\nplugin = "x"\nrange = [1.0]\n', "params.snap.range"),
        ('[params.snap]\nplugin = "x"\nrange = [0.0, 1.0]\nscale = "log"\n', "params.snap.range"),
        ('[params.snap]\nbits = 7\n', "params.snap"),
        ('[params.snap]\ncc = "21"\n', "params.snap.cc"),
    ],
)
def test_bad_keys_and_values_name_the_key(tmp_path: Path, patch: str, key: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(patch + PARAMS_PART if patch.startswith("[midi]") else EXAMPLE + patch)
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        load_mapping(path)


def test_missing_file_and_bad_toml(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.toml"):
        load_mapping(tmp_path / "nope.toml")
    (tmp_path / "broken.toml").write_text("[params.a\ncc = 1")
    with pytest.raises(ValueError, match="not valid TOML"):
        load_mapping(tmp_path / "broken.toml")
    with pytest.raises(ValueError, match="params"):
        Mapping.from_dict({"midi": {"channel": 1}})


def test_default_mapping() -> None:
    names = ["pitch", "decay", "tone", "snap"]  # a model card's param_names
    m = default_mapping(names)
    ccs = [m[n].cc for n in names]
    assert len(set(ccs)) == 4 and all(cc in UNDEFINED_CCS_7BIT for cc in ccs)
    assert all(m[n].bits == 7 and m[n].plugin is None for n in names)
    m14 = default_mapping(names, bits=14)
    assert [m14[n].cc for n in names] == [20, 21, 22, 23] and all(m14[n].bits == 14 for n in names)
    with pytest.raises(ValueError, match="param_names"):
        default_mapping([f"p{i}" for i in range(13)], bits=14)
    with pytest.raises(ValueError, match="param_names"):
        default_mapping(["a", "a"])
    with pytest.raises(ValueError, match="bits"):
        default_mapping(["a"], bits=8)


def test_cc_bytes_quantise_and_decode() -> None:
    names = ["pitch", "decay", "tone", "snap"]
    m = Mapping.from_dict({"midi": {"channel": 3}, "params": {
        "pitch": {"cc": 20, "bits": 14}, "tone": {"cc": 102}, "snap": {"cc": 21, "bits": 14}}})
    rng = np.random.default_rng(0)
    for theta in [np.zeros(4), np.ones(4), rng.uniform(size=4)]:
        msgs = m.cc_bytes(theta.astype(np.float32), names)
        assert all(msg[0] == 0xB2 for msg in msgs)  # CC on channel 3
        assert [msg[1] for msg in msgs] == [20, 52, 102, 21, 53]  # MSB before LSB; decay unmapped
        pitch = (msgs[0][2] << 7 | msgs[1][2]) / 16383
        snap = (msgs[3][2] << 7 | msgs[4][2]) / 16383
        tone = msgs[2][2] / 127
        assert abs(pitch - theta[0]) <= 0.5 / 16383 + 1e-7
        assert abs(snap - theta[3]) <= 0.5 / 16383 + 1e-7
        assert abs(tone - theta[2]) <= 0.5 / 127 + 1e-7
    assert m.note_on_bytes(0.0) == [0x92, 36, 1] and m.note_on_bytes(1.0) == [0x92, 36, 127]
    assert m.note_off_bytes() == [0x82, 36, 0]


def test_theta_and_names_validation() -> None:
    m = default_mapping(["a", "b"])
    with pytest.raises(ValueError, match="theta"):
        m.cc_bytes(np.array([0.5, np.nan]), ["a", "b"])
    with pytest.raises(ValueError, match="theta"):
        m.cc_bytes(np.array([0.5]), ["a", "b"])
    with pytest.raises(ValueError, match="theta"):
        m.cc_bytes(np.array([0.5, 1.5]), ["a", "b"])
    with pytest.raises(ValueError, match="unknown parameter"):
        m.check_names(["a", "c"])
    with pytest.raises(ValueError, match="'zzz'"):
        m["zzz"]
