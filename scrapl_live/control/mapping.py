"""Parameter → MIDI CC and parameter → plugin-parameter mapping, loaded from / saved to TOML.

A mapping says, for each predicted synth parameter (by name, as in the model card), which MIDI
controller carries it (7-bit, or 14-bit as an MSB/LSB pair on ``cc`` and ``cc + 32``) and which
plugin parameter it drives (normalised θ ∈ [0, 1] → ``range`` in the plugin's units, linear or log).
It also builds the raw MIDI bytes for a hit (CCs, note-on, note-off), so the real-time port, the
MIDI file writer and the plugin host all send the same messages.

File format (every key optional except the per-parameter tables)::

    [midi]
    channel = 10          # 1..16
    note = 36             # note played for each hit, 0..127
    note_length = 0.1     # seconds from note-on to note-off
    cc_once = false       # true: a hit's CCs are sent once, with its final prediction (default: with the
                          # first prediction, then again whenever a refinement changes them)
    confidence_cc = 102   # optional: the drum classifier's confidence (0..1 → 0..127) before each note

    [classes.snare]       # optional, per drum class (kick snare tom closed_hat open_hat cymbal clap other)
    note = 40             # note of hits of this class (General-MIDI defaults: DRUM_NOTES; other: midi.note)
    plugin = "builtin:Reverb"  # optional: hits of this class also play this plugin (--plugin syntax)

    [params.decay]
    cc = 20               # 0..119 (7-bit) or 0..31 (bits = 14, LSB on cc + 32)
    bits = 14             # 7 (default) or 14
    plugin = "decay_s"    # plugin parameter name (see `plugin.parameters`)
    range = [0.05, 1.5]   # plugin value at θ = 0 and θ = 1 (default: the plugin parameter's range)
    scale = "log"         # "linear" (default) or "log"
"""

from __future__ import annotations

import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.control.class_map import DRUM_CLASSES, DRUM_NOTES, ClassMap, classes_from_dict
from scrapl_live.control.mapping_checks import int_in, no_unknown
from scrapl_live.control.param_map import (
    UNDEFINED_CCS_7BIT,
    UNDEFINED_CCS_14BIT,
    ParamMap,
    check_cc_collisions,
    check_theta,
    param_from_dict,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "DRUM_CLASSES", "DRUM_NOTES", "UNDEFINED_CCS_14BIT", "UNDEFINED_CCS_7BIT", "ClassMap", "Mapping",
    "ParamMap", "check_theta", "default_mapping", "load_mapping", "save_mapping",
]

_TOP_KEYS = {"midi", "params", "classes"}
_MIDI_KEYS = {"channel", "note", "note_length", "cc_once", "confidence_cc"}


@dataclass(frozen=True)
class Mapping:
    """The whole mapping: MIDI channel/note/note length, one :class:`ParamMap` per parameter and the
    per-drum-class routing (notes, plugins, confidence controller)."""

    params: tuple[ParamMap, ...]
    channel: int = 1
    note: int = 36
    note_length: float = 0.1
    cc_once: bool = False
    classes: tuple[ClassMap, ...] = ()
    confidence_cc: int | None = None
    _by_name: dict[str, ParamMap] = field(init=False, repr=False, compare=False)
    _by_class: dict[str, ClassMap] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})
        object.__setattr__(self, "_by_class", {c.name: c for c in self.classes})

    def __getitem__(self, name: str) -> ParamMap:
        if name not in self._by_name:
            raise ValueError(f"parameter {name!r} is not in the mapping (mapped: {sorted(self._by_name)})")
        return self._by_name[name]

    def get(self, name: str) -> ParamMap | None:
        """The mapping of parameter ``name``, or None when it is not mapped."""
        return self._by_name.get(name)

    @property
    def names(self) -> list[str]:
        """Mapped parameter names, in file order."""
        return [p.name for p in self.params]

    def check_names(self, param_names: Sequence[str]) -> None:
        """Raise ValueError if the mapping names a parameter the model does not predict."""
        unknown = [n for n in self.names if n not in param_names]
        if unknown:
            raise ValueError(
                f"mapping names unknown parameter(s) {unknown}; the model predicts {list(param_names)}"
            )

    # ------------------------------------------------------------------------------------- MIDI bytes
    def cc_bytes(self, theta: np.ndarray, param_names: Sequence[str]) -> list[list[int]]:
        """Control-change messages for θ: (U,) in [0, 1] ordered as ``param_names``.

        One message per 7-bit parameter, two (MSB on ``cc``, then LSB on ``cc + 32``) per 14-bit one.
        """
        theta = check_theta(theta, len(param_names))
        status = 0xB0 | (self.channel - 1)
        out: list[list[int]] = []
        for i, name in enumerate(param_names):
            pm = self._by_name.get(name)
            if pm is None or pm.cc is None:
                continue
            v = pm.quantise(theta[i])
            if pm.bits == 7:
                out.append([status, pm.cc, v])
            else:
                out += [[status, pm.cc, v >> 7], [status, pm.cc + 32, v & 0x7F]]
        return out

    def note_for(self, label: str | None = None) -> int:
        """The note of a hit of drum class ``label``: the file's [classes.<label>] note, else the
        General-MIDI one (DRUM_NOTES); class "other", an unknown class or None play ``note``."""
        if label in self._by_class:
            return self._by_class[label].note
        return DRUM_NOTES.get(label, self.note) if label is not None else self.note

    def class_plugins(self) -> dict[str, str]:
        """Drum class → its own plugin (classes routed to a plugin only)."""
        return {c.name: c.plugin for c in self.classes if c.plugin is not None}

    def note_on_bytes(self, velocity: float, label: str | None = None) -> list[int]:
        """Note-on for a hit of class ``label``; velocity ∈ [0, 1] → 1..127 (0 would mean note-off)."""
        v = int(round(min(max(float(velocity), 0.0), 1.0) * 127))
        return [0x90 | (self.channel - 1), self.note_for(label), max(1, v)]

    def note_off_bytes(self, label: str | None = None) -> list[int]:
        """Note-off for the note of class ``label``."""
        return [0x80 | (self.channel - 1), self.note_for(label), 0]

    def confidence_bytes(self, confidence: float | None) -> list[list[int]]:
        """The classifier-confidence controller message ([] without a controller or a confidence)."""
        if self.confidence_cc is None or confidence is None:
            return []
        v = int(round(min(max(float(confidence), 0.0), 1.0) * 127))
        return [[0xB0 | (self.channel - 1), self.confidence_cc, v]]

    def note_samples(self, sample_rate: int) -> int:
        """Note length in samples at ``sample_rate`` (at least 1)."""
        return max(1, int(round(self.note_length * sample_rate)))

    # ------------------------------------------------------------------------------------- (de)serialise
    def to_dict(self) -> dict[str, Any]:
        """Plain dict in the TOML layout (None fields left out)."""
        params: dict[str, dict[str, Any]] = {}
        for p in self.params:
            d: dict[str, Any] = {}
            if p.cc is not None:
                d.update(cc=p.cc, bits=p.bits)
            if p.plugin is not None:
                d.update(plugin=p.plugin, scale=p.scale)
                if p.range is not None:
                    d["range"] = list(p.range)
            params[p.name] = d
        midi: dict[str, Any] = {"channel": self.channel, "note": self.note, "note_length": self.note_length,
                                "cc_once": self.cc_once}
        if self.confidence_cc is not None:
            midi["confidence_cc"] = self.confidence_cc
        out: dict[str, Any] = {"midi": midi, "params": params}
        if self.classes:
            out["classes"] = {c.name: {"note": c.note} | ({"plugin": c.plugin} if c.plugin else {})
                              for c in self.classes}
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Mapping:
        """Validate a dict in the TOML layout; ValueError names the offending key."""
        no_unknown(data, _TOP_KEYS, "")
        midi = data.get("midi", {})
        if not isinstance(midi, dict):
            raise ValueError("mapping: [midi] must be a table")
        no_unknown(midi, _MIDI_KEYS, "midi.")
        channel = int_in(midi.get("channel", 1), "midi.channel", 1, 16)
        note = int_in(midi.get("note", 36), "midi.note", 0, 127)
        note_length = midi.get("note_length", 0.1)
        if isinstance(note_length, bool) or not isinstance(note_length, int | float) or not (
            math.isfinite(note_length) and note_length > 0
        ):
            raise ValueError(f"mapping: midi.note_length must be positive seconds, got {note_length!r}")
        cc_once = midi.get("cc_once", False)
        if not isinstance(cc_once, bool):
            raise ValueError(f"mapping: midi.cc_once must be true or false, got {cc_once!r}")
        tables = data.get("params")
        if not isinstance(tables, dict) or not tables:
            raise ValueError("mapping: needs a non-empty [params.<name>] table per mapped parameter")
        params = tuple(param_from_dict(name, d) for name, d in tables.items())
        confidence_cc = midi.get("confidence_cc")
        if confidence_cc is not None:
            confidence_cc = int_in(confidence_cc, "midi.confidence_cc", 0, 119)
        check_cc_collisions(params, confidence_cc)
        classes = classes_from_dict(data.get("classes", {}))
        return cls(params=params, channel=channel, note=note, note_length=float(note_length),
                   cc_once=cc_once, classes=classes, confidence_cc=confidence_cc)


def load_mapping(path: str | Path) -> Mapping:
    """Read and validate a mapping TOML file (FileNotFoundError / ValueError)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mapping file not found: {path}")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"mapping file {path} is not valid TOML: {exc}") from exc
    return Mapping.from_dict(data)


def save_mapping(mapping: Mapping, path: str | Path) -> Path:
    """Write ``mapping`` as TOML (readable back with :func:`load_mapping`)."""
    import tomli_w

    path = Path(path)
    path.write_text(tomli_w.dumps(mapping.to_dict()), encoding="utf-8")
    return path


def default_mapping(param_names: Sequence[str], bits: int = 7, channel: int = 1, note: int = 36) -> Mapping:
    """One CC per parameter on controllers with no assigned meaning, in ``param_names`` order.

    ``param_names``: the model's parameters in θ order (the model card's ``param_names``).

    7-bit: CCs 20..31, 3, 9, 14, 15, 102..119 (up to 34 parameters); 14-bit: CCs 20..31 (MSB) with
    52..63 (LSB), up to 12 parameters. The classifier's confidence goes on the first 7-bit one left.
    No plugin targets (those depend on the plugin); drum classes play their General-MIDI notes.
    """
    if bits not in (7, 14):
        raise ValueError(f"bits must be 7 or 14, got {bits!r}")
    pool = UNDEFINED_CCS_7BIT if bits == 7 else UNDEFINED_CCS_14BIT
    names = list(param_names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"param_names must be non-empty and unique, got {names}")
    if len(names) > len(pool):
        raise ValueError(f"param_names: {len(names)} names, only {len(pool)} free {bits}-bit controllers")
    params = tuple(ParamMap(name=n, cc=cc, bits=bits) for n, cc in zip(names, pool, strict=False))
    used = {c for p in params for c in ((p.cc,) if bits == 7 else (p.cc, p.cc + 32))}
    confidence_cc = next((c for c in UNDEFINED_CCS_7BIT if c not in used), None)
    mapping = Mapping(params=params, channel=channel, note=note, confidence_cc=confidence_cc)
    return Mapping.from_dict(mapping.to_dict())
