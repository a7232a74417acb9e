"""JTFS settings (the 8 numbers that define a transform), their checks, and everything derived from
them: filter specs, padding and path enumeration (docs/method.md#jtfs)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import filters as fb


def _check_int(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def _parse_support(name: str, value: int | str | None, default: int, limit: int) -> int:
    """Low-pass support T or F: None -> default (2^J or 2^J_fr); ints in [1, limit]."""
    if value is None:
        return default
    if isinstance(value, str):
        raise ValueError(f"{name}={value!r}: only local averaging (None or an int) is supported")
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= limit:
        raise ValueError(f"{name} must be None or an int in [1, {limit}], got {value!r}")
    return value


@dataclass(frozen=True)
class JTFSSettings:
    """What defines a joint time-frequency scattering transform (scrapl-loss constructor order).

    Args:
        shape: signal length N in samples (≥ 2).
        J: octaves of the temporal wavelets (first and second order).
        Q1: first-order wavelets per octave.
        Q2: second-order wavelets per octave.
        J_fr: octaves of the frequential wavelets (along the first-order frequency axis n1).
        Q_fr: frequential wavelets per octave.
        T: temporal low-pass support in samples, ≤ N (None: 2^J).  Output frames are 2^floor(log2 T)
            samples apart.
        F: frequential low-pass support in first-order bands, ≤ 2^J_fr (None: 2^J_fr).

    Raises ValueError naming the bad argument.
    """

    shape: int
    J: int
    Q1: int
    Q2: int
    J_fr: int
    Q_fr: int
    T: int | str | None = None
    F: int | str | None = None

    def __post_init__(self) -> None:
        _check_int("shape", self.shape, 2)
        for name in ("J", "Q1", "Q2", "J_fr", "Q_fr"):
            _check_int(name, getattr(self, name), 1)
        _parse_support("T", self.T, 2**self.J, self.shape)
        f = _parse_support("F", self.F, 2**self.J_fr, (self.J + 1) * self.Q1)
        if f > 2**self.J_fr:
            raise ValueError(f"F={f} must be <= 2^J_fr={2**self.J_fr} so that all paths share one shape")

    @classmethod
    def of(cls, settings: JTFSSettings | None = None, **kwargs: Any) -> JTFSSettings:
        """``settings`` itself, or settings built from keyword arguments (not both)."""
        if settings is None:
            return cls(**kwargs)
        if kwargs or not isinstance(settings, cls):
            raise ValueError(f"give a JTFSSettings or keyword arguments, not both (got {settings!r}, "
                             f"{kwargs})")
        return settings

    @property
    def support_t(self) -> int:
        """T with its default resolved."""
        return _parse_support("T", self.T, 2**self.J, self.shape)

    @property
    def support_f(self) -> int:
        """F with its default resolved."""
        return _parse_support("F", self.F, 2**self.J_fr, (self.J + 1) * self.Q1)


@dataclass
class JTFSConfig:
    """Derived, immutable description of a JTFS (filters as specs, lengths, paths)."""

    settings: JTFSSettings
    T: int
    F: int
    psi1: list[fb.FilterSpec]
    psi2: list[fb.FilterSpec]
    psi_fr: list[fb.FilterSpec]
    n_pad: int
    n_fr_pad: int
    keys: list[tuple[int, int]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: JTFSSettings) -> JTFSConfig:
        """Derive everything from ``settings`` (ValueError when they give no SCRAPL path)."""
        s = settings
        t, f = s.support_t, s.support_f
        cfg = cls(
            s,
            t,
            f,
            fb.wavelet_specs(s.J, s.Q1),
            fb.wavelet_specs(s.J, s.Q2),
            fb.frequential_specs(s.J_fr, s.Q_fr),
            fb.padded_length(s.shape, t),
            fb.frequential_length(s.J, s.Q1, s.J_fr, f),
        )
        cfg.keys = [(n2, n_fr) for n2 in cfg.valid_n2 for n_fr in range(len(cfg.psi_fr))]
        if not cfg.keys:
            raise ValueError(f"J={s.J}, Q2={s.Q2} give no second-order wavelet with j2 >= 1 "
                             "(no SCRAPL paths)")
        if max(cfg.psi2[n2].j for n2 in cfg.valid_n2) > cfg.log2_t:
            raise ValueError(f"T={t} is too small: log2(T) must be >= the largest j2")
        return cfg

    @property
    def shape(self) -> int:
        """Signal length N."""
        return self.settings.shape

    # ------------------------------------------------------------------ derived quantities
    @property
    def log2_t(self) -> int:
        return int(math.floor(math.log2(self.T)))

    @property
    def log2_f(self) -> int:
        return int(math.floor(math.log2(self.F)))

    @property
    def pad_left(self) -> int:
        return (self.n_pad - self.shape) // 2

    @property
    def pad_right(self) -> int:
        return self.n_pad - self.shape - self.pad_left

    @property
    def unpad_start(self) -> int:
        """First output frame of the unpadded signal at stride 2^log2T (kymatio's border index rounding)."""
        i = self.pad_left
        for _ in range(self.log2_t):
            i = i // 2 + i % 2
        return i

    @property
    def unpad_stop(self) -> int:
        i = self.pad_left + self.shape
        for _ in range(self.log2_t):
            i = i // 2 + i % 2
        return i

    @property
    def k1(self) -> list[int]:
        """Decimation level of each first-order band: min(j1, log2T)."""
        return [min(p.j, self.log2_t) for p in self.psi1]

    @property
    def psi1_groups(self) -> dict[int, tuple[int, int]]:
        """Level k1 -> contiguous band range [start, stop) (bands are sorted by j1)."""
        groups: dict[int, tuple[int, int]] = {}
        for n1, k in enumerate(self.k1):
            start = groups.get(k, (n1, n1))[0]
            groups[k] = (start, n1 + 1)
        return groups

    @property
    def n1_max_of(self) -> dict[int, int]:
        """n2 -> number of leading first-order bands with j1 < j2."""
        return {n2: sum(p.j < q.j for p in self.psi1) for n2, q in enumerate(self.psi2)}

    @property
    def valid_n2(self) -> list[int]:
        """Second-order filters having at least one first-order band with j1 < j2."""
        return [n2 for n2, n in self.n1_max_of.items() if n > 0]

    @property
    def key_index(self) -> dict[tuple[int, int], int]:
        return {key: i for i, key in enumerate(self.keys)}

    @property
    def first_order_n_fr(self) -> list[int]:
        """n_fr of the first-order paths: the low-pass and the positive-xi wavelets."""
        return [n for n, p in enumerate(self.psi_fr) if p.xi >= 0]

    def k1_levels(self, n2: int) -> list[int]:
        """Distinct k1 of the bands used by ``n2``."""
        return sorted({k for k, p in zip(self.k1, self.psi1, strict=True) if p.j < self.psi2[n2].j})

    def k_fr(self, n_fr: int) -> int:
        return min(self.psi_fr[n_fr].j, self.log2_f)

    def group_n_fr(self, n_frs: Sequence[int]) -> dict[tuple[int, bool], list[int]]:
        """Positions in ``n_frs`` grouped by (k_fr, spin != 0): members of a group share one batched op."""
        groups: dict[tuple[int, bool], list[int]] = {}
        for i, n in enumerate(n_frs):
            groups.setdefault((self.k_fr(n), self.psi_fr[n].xi != 0), []).append(i)
        return groups

    def meta(self) -> dict:
        """Per-path arrays over ``keys``: key, n2, n_fr, j2, j_fr, xi2, sigma2, xi_fr, sigma_fr, spin,
        n1_max."""
        n2 = np.array([k[0] for k in self.keys])
        n_fr = np.array([k[1] for k in self.keys])
        n1_max_of = self.n1_max_of
        return {
            "key": list(self.keys),
            "n2": n2,
            "n_fr": n_fr,
            "j2": np.array([self.psi2[n].j for n in n2]),
            "j_fr": np.array([self.psi_fr[n].j for n in n_fr]),
            "xi2": np.array([self.psi2[n].xi for n in n2]),
            "sigma2": np.array([self.psi2[n].sigma for n in n2]),
            "xi_fr": np.array([self.psi_fr[n].xi for n in n_fr]),
            "sigma_fr": np.array([self.psi_fr[n].sigma for n in n_fr]),
            "spin": np.sign(np.array([self.psi_fr[n].xi for n in n_fr])).astype(int),
            "n1_max": np.array([n1_max_of[n] for n in n2]),
        }
