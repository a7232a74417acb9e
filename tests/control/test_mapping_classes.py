"""Drum-class routing in the mapping: per-class notes (GM defaults), plugins, the confidence controller."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapl_live.control.mapping import (
    DRUM_CLASSES,
    UNDEFINED_CCS_7BIT,
    Mapping,
    default_mapping,
    load_mapping,
    save_mapping,
)
from scrapl_live.live.classify import CLASSES

BASE = """
[midi]
channel = 10
note = 60
confidence_cc = 16

[params.decay]
cc = 20
"""


def _load(tmp_path: Path, text: str) -> Mapping:
    path = tmp_path / "map.toml"
    path.write_text(text)
    return load_mapping(path)


def test_mapping_classes_are_the_classifier_classes() -> None:
    assert DRUM_CLASSES == CLASSES


def test_general_midi_defaults_and_other_plays_the_mapping_note(tmp_path: Path) -> None:
    m = _load(tmp_path, BASE)
    gm = {"kick": 36, "snare": 38, "tom": 45, "closed_hat": 42, "open_hat": 46, "cymbal": 49, "clap": 39}
    assert {c: m.note_for(c) for c in gm} == gm
    assert m.note_for("other") == 60 and m.note_for(None) == 60
    assert m.note_on_bytes(1.0, "snare") == [0x99, 38, 127]
    assert m.note_off_bytes("open_hat") == [0x89, 46, 0]
    assert m.note_on_bytes(0.5) == [0x99, 60, 64]  # no class: the mapping's note, as before


def test_class_tables_override_notes_and_route_plugins(tmp_path: Path) -> None:
    m = _load(tmp_path, BASE + '\n[classes.snare]\nnote = 40\nplugin = "builtin:Reverb"\n'
              '\n[classes.other]\nnote = 75\n')
    assert m.note_for("snare") == 40 and m.note_for("other") == 75 and m.note_for("kick") == 36
    assert m.class_plugins() == {"snare": "builtin:Reverb"}
    back = Mapping.from_dict(m.to_dict())
    assert back == m
    assert load_mapping(save_mapping(m, tmp_path / "again.toml")) == m


def test_confidence_controller_message(tmp_path: Path) -> None:
    m = _load(tmp_path, BASE)
    assert m.confidence_bytes(0.5) == [[0xB9, 16, 64]]
    assert m.confidence_bytes(1.0) == [[0xB9, 16, 127]]
    assert m.confidence_bytes(None) == []
    no_cc = _load(tmp_path, BASE.replace("confidence_cc = 16\n", ""))
    assert no_cc.confidence_bytes(0.9) == []


@pytest.mark.parametrize(("extra", "needle"), [
    ("\n[classes.cowbell]\nnote = 56\n", "unknown drum class [classes.cowbell]"),
    ("\n[classes.kick]\nnote = 128\n", "classes.kick.note"),
    ("\n[classes.kick]\nchannel = 2\n", "classes.kick.channel"),
    ("\n[classes.kick]\nplugin = 3\n", "classes.kick.plugin"),
    ("\n[classes]\nkick = 36\n", "classes.kick must be a table"),
])
def test_bad_class_tables_name_the_key(tmp_path: Path, extra: str, needle: str) -> None:
    with pytest.raises(ValueError, match=None) as err:
        _load(tmp_path, BASE + extra)
    assert needle in str(err.value)


def test_confidence_cc_may_not_collide_with_a_parameter(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="controller 20"):
        _load(tmp_path, BASE.replace("confidence_cc = 16", "confidence_cc = 20"))
    with pytest.raises(ValueError, match="midi.confidence_cc"):
        _load(tmp_path, BASE.replace("confidence_cc = 16", "confidence_cc = 120"))


@pytest.mark.parametrize("bits", [7, 14])
def test_default_mapping_puts_confidence_on_a_free_controller(bits: int) -> None:
    names = [f"p{i}" for i in range(12)]
    m = default_mapping(names, bits=bits)
    used = {p.cc for p in m.params} | ({p.cc + 32 for p in m.params} if bits == 14 else set())
    assert m.confidence_cc in UNDEFINED_CCS_7BIT and m.confidence_cc not in used
