"""Per-parameter routing of the mapping file: ``[params.<name>]`` → a MIDI controller and/or a plugin
parameter.

A parameter's controller is 7-bit, or 14-bit as an MSB/LSB pair on ``cc`` and ``cc + 32``; its plugin
target maps θ ∈ [0, 1] onto ``range`` in the plugin's units, linearly or logarithmically.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from scrapl_live.control.mapping_checks import int_in, no_unknown

# Controllers with no assigned meaning in the MIDI 1.0 spec: used by the default mapping.
# 20..31 also have undefined LSB partners (52..63), so they carry 14-bit values.
UNDEFINED_CCS_14BIT: tuple[int, ...] = tuple(range(20, 32))
UNDEFINED_CCS_7BIT: tuple[int, ...] = UNDEFINED_CCS_14BIT + (3, 9, 14, 15) + tuple(range(102, 120))

PARAM_KEYS = {"cc", "bits", "plugin", "range", "scale"}


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



def param_from_dict(name: str, d: Any) -> ParamMap:
    """Validate the ``[params.<name>]`` table ``d`` (ValueError naming the offending key)."""
    key = f"params.{name}"
    if not isinstance(d, dict):
        raise ValueError(f"mapping: {key} must be a table, got {d!r}")
    no_unknown(d, PARAM_KEYS, key + ".")
    if "cc" not in d and "plugin" not in d:
        raise ValueError(f"mapping: {key} needs 'cc' and/or 'plugin'")
    bits = d.get("bits", 7)
    if bits not in (7, 14) or isinstance(bits, bool):
        raise ValueError(f"mapping: {key}.bits must be 7 or 14, got {bits!r}")
    cc = None if "cc" not in d else int_in(d["cc"], f"{key}.cc", 0, 31 if bits == 14 else 119)
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



def check_cc_collisions(params: Sequence[ParamMap], confidence_cc: int | None = None) -> None:
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

