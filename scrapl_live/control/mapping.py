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

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

# Controllers with no assigned meaning in the MIDI 1.0 spec: used by the default mapping.
# 20..31 also have undefined LSB partners (52..63), so they carry 14-bit values.
UNDEFINED_CCS_14BIT: tuple[int, ...] = tuple(range(20, 32))
UNDEFINED_CCS_7BIT: tuple[int, ...] = UNDEFINED_CCS_14BIT + (3, 9, 14, 15) + tuple(range(102, 120))

_TOP_KEYS = {"midi", "params", "classes"}
_MIDI_KEYS = {"channel", "note", "note_length", "cc_once", "confidence_cc"}
_PARAM_KEYS = {"cc", "bits", "plugin", "range", "scale"}
_CLASS_KEYS = {"note", "plugin"}

DRUM_NOTES: dict[str, int] = {"kick": 36, "snare": 38, "tom": 45, "closed_hat": 42, "open_hat": 46,
                              "cymbal": 49, "clap": 39}
"""General-MIDI percussion notes of the drum classes; class "other" (and a hit with no class) plays
the mapping's ``midi.note``."""
DRUM_CLASSES: tuple[str, ...] = (*DRUM_NOTES, "other")


@dataclass(frozen=True)
class ParamMap:
    """Where one predicted parameter goes: a MIDI controller and/or a plugin parameter."""

    name: str
    cc: int | None = None
    bits: int = 7
    plugin: str | None = None
    range: tuple[float, float] | None = None
    scale: str = "linear"

    def quantise(self, u: float) -> int:
        """θ ∈ [0, 1] → controller value: 0..127 (7-bit) or 0..16383 (14-bit)."""
        top = 127 if self.bits == 7 else 16383
        return int(round(min(max(float(u), 0.0), 1.0) * top))

    def dequantise(self, value: int) -> float:
        """Controller value → θ ∈ [0, 1] (inverse of :meth:`quantise` up to rounding)."""
        return value / (127 if self.bits == 7 else 16383)

    def plugin_value(self, u: float, lo: float, hi: float) -> float:
        """θ ∈ [0, 1] → plugin value between ``lo`` (θ = 0) and ``hi`` (θ = 1), linear or log."""
        u = min(max(float(u), 0.0), 1.0)
        if self.scale == "log":
            return lo * (hi / lo) ** u
        return lo + (hi - lo) * u


@dataclass(frozen=True)
class ClassMap:
    """Where hits of one drum class go: their MIDI note and, optionally, a plugin of their own."""

    name: str
    note: int
    plugin: str | None = None


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
        _no_unknown(data, _TOP_KEYS, "")
        midi = data.get("midi", {})
        if not isinstance(midi, dict):
            raise ValueError("mapping: [midi] must be a table")
        _no_unknown(midi, _MIDI_KEYS, "midi.")
        channel = _int(midi.get("channel", 1), "midi.channel", 1, 16)
        note = _int(midi.get("note", 36), "midi.note", 0, 127)
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
        params = tuple(_param_from_dict(name, d) for name, d in tables.items())
        confidence_cc = midi.get("confidence_cc")
        if confidence_cc is not None:
            confidence_cc = _int(confidence_cc, "midi.confidence_cc", 0, 119)
        _check_cc_collisions(params, confidence_cc)
        classes = _classes_from_dict(data.get("classes", {}))
        return cls(params=params, channel=channel, note=note, note_length=float(note_length),
                   cc_once=cc_once, classes=classes, confidence_cc=confidence_cc)


def check_theta(theta: np.ndarray, n_params: int) -> np.ndarray:
    """Validate θ: shape (n_params,), finite, in [0, 1] (tolerance 1e-6) → float64 array clipped to [0, 1]."""
    arr = np.asarray(theta, dtype=np.float64)
    if arr.shape != (n_params,):
        raise ValueError(f"theta must have shape ({n_params},), got {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("theta contains NaN or infinite values")
    if arr.min() < -1e-6 or arr.max() > 1 + 1e-6:
        raise ValueError(f"theta must lie in [0, 1], got min {arr.min():.4g}, max {arr.max():.4g}")
    return np.clip(arr, 0.0, 1.0)


def _no_unknown(d: dict[str, Any], allowed: set[str], prefix: str) -> None:
    unknown = sorted(set(d) - allowed)
    if unknown:
        keys = [prefix + k for k in unknown]
        raise ValueError(f"mapping: unknown key(s) {keys}; allowed: {sorted(allowed)}")


def _int(v: Any, key: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"mapping: {key} must be an integer in {lo}..{hi}, got {v!r}")
    return v


def _param_from_dict(name: str, d: Any) -> ParamMap:
    key = f"params.{name}"
    if not isinstance(d, dict):
        raise ValueError(f"mapping: {key} must be a table, got {d!r}")
    _no_unknown(d, _PARAM_KEYS, key + ".")
    if "cc" not in d and "plugin" not in d:
        raise ValueError(f"mapping: {key} needs 'cc' and/or 'plugin'")
    bits = d.get("bits", 7)
    if bits not in (7, 14) or isinstance(bits, bool):
        raise ValueError(f"mapping: {key}.bits must be 7 or 14, got {bits!r}")
    cc = None if "cc" not in d else _int(d["cc"], f"{key}.cc", 0, 31 if bits == 14 else 119)
    plugin = d.get("plugin")
    if plugin is not None and (not isinstance(plugin, str) or not plugin):
        raise ValueError(f"mapping: {key}.plugin must be a plugin parameter name, got {plugin!r}")
    scale = d.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise ValueError(f"mapping: {key}.scale must be 'linear' or 'log', got {scale!r}")
    rng = d.get("range")
    if rng is not None:
        ok = isinstance(rng, list | tuple) and len(rng) == 2 and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in rng
        )
        if not ok or rng[0] == rng[1]:
            raise ValueError(f"mapping: {key}.range must be two different finite numbers, got {rng!r}")
        if scale == "log" and min(rng) <= 0:
            raise ValueError(f"mapping: {key}.range must be > 0 with scale = 'log', got {rng!r}")
        rng = (float(rng[0]), float(rng[1]))
    return ParamMap(name=name, cc=cc, bits=bits, plugin=plugin, range=rng, scale=scale)


def _classes_from_dict(tables: Any) -> tuple[ClassMap, ...]:
    if not isinstance(tables, dict):
        raise ValueError("mapping: [classes] must be a table of [classes.<class>] tables")
    out = []
    for name, d in tables.items():
        key = f"classes.{name}"
        if name not in DRUM_CLASSES:
            raise ValueError(f"mapping: unknown drum class [{key}]; classes: {list(DRUM_CLASSES)}")
        if not isinstance(d, dict):
            raise ValueError(f"mapping: {key} must be a table, got {d!r}")
        _no_unknown(d, _CLASS_KEYS, key + ".")
        note = _int(d.get("note", DRUM_NOTES.get(name, 36)), f"{key}.note", 0, 127)
        plugin = d.get("plugin")
        if plugin is not None and (not isinstance(plugin, str) or not plugin):
            raise ValueError(f"mapping: {key}.plugin must be PATH.vst3 or builtin:NAME, got {plugin!r}")
        out.append(ClassMap(name=name, note=note, plugin=plugin))
    return tuple(out)


def _check_cc_collisions(params: Sequence[ParamMap], confidence_cc: int | None = None) -> None:
    """Each controller number (including 14-bit LSB partners) may carry one parameter only."""
    owner: dict[int, str] = {} if confidence_cc is None else {confidence_cc: "midi.confidence_cc"}
    for p in params:
        if p.cc is None:
            continue
        for cc in (p.cc,) if p.bits == 7 else (p.cc, p.cc + 32):
            if cc in owner:
                raise ValueError(
                    f"mapping: params.{p.name}.cc uses controller {cc}, already used by {owner[cc]!r}"
                )
            owner[cc] = p.name


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
