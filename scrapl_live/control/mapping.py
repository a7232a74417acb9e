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

_TOP_KEYS = {"midi", "params"}
_MIDI_KEYS = {"channel", "note", "note_length"}
_PARAM_KEYS = {"cc", "bits", "plugin", "range", "scale"}


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
class Mapping:
    """The whole mapping: MIDI channel/note/note length plus one :class:`ParamMap` per parameter."""

    params: tuple[ParamMap, ...]
    channel: int = 1
    note: int = 36
    note_length: float = 0.1
    _by_name: dict[str, ParamMap] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {p.name: p for p in self.params})

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

    def note_on_bytes(self, velocity: float) -> list[int]:
        """Note-on for a hit; velocity ∈ [0, 1] → 1..127 (0 would mean note-off)."""
        v = int(round(min(max(float(velocity), 0.0), 1.0) * 127))
        return [0x90 | (self.channel - 1), self.note, max(1, v)]

    def note_off_bytes(self) -> list[int]:
        """Note-off for the hit note."""
        return [0x80 | (self.channel - 1), self.note, 0]

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
        return {"midi": {"channel": self.channel, "note": self.note, "note_length": self.note_length},
                "params": params}

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
        tables = data.get("params")
        if not isinstance(tables, dict) or not tables:
            raise ValueError("mapping: needs a non-empty [params.<name>] table per mapped parameter")
        params = tuple(_param_from_dict(name, d) for name, d in tables.items())
        _check_cc_collisions(params)
        return cls(params=params, channel=channel, note=note, note_length=float(note_length))


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


def _check_cc_collisions(params: Sequence[ParamMap]) -> None:
    """Each controller number (including 14-bit LSB partners) may carry one parameter only."""
    owner: dict[int, str] = {}
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
    52..63 (LSB), up to 12 parameters. No plugin targets (those depend on the plugin).
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
    return Mapping.from_dict(Mapping(params=params, channel=channel, note=note).to_dict())
