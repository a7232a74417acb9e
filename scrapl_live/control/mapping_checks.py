"""Validation helpers of the mapping file: unknown keys and bounded integers, each error naming its key."""

from __future__ import annotations

from typing import Any


def no_unknown(d: dict[str, Any], allowed: set[str], prefix: str) -> None:
    """Raise ValueError naming the keys of ``d`` (at ``prefix``) that are not in ``allowed``."""
    unknown = sorted(set(d) - allowed)
    if unknown:
        keys = [prefix + k for k in unknown]
        raise ValueError(f"mapping: unknown key(s) {keys}; allowed: {sorted(allowed)}")


def int_in(v: Any, key: str, lo: int, hi: int) -> int:
    """``v`` as an integer in ``lo..hi`` (ValueError naming ``key`` otherwise; a bool is not an integer)."""
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise ValueError(f"mapping: {key} must be an integer in {lo}..{hi}, got {v!r}")
    return v

