"""Joint time-frequency scattering (JTFS) with per-path access, value-identical to the SCRAPL reference.

Speed comes from doing less work with the same math: the first-order scalogram is computed once (only
for the bands the requested paths need, all bands of one decimation level in one batched op) and shared
by all paths; the second-order ``Y2`` and its n1-spectrum are computed once per ``n2`` and shared by all
its ``n_fr``; filter levels are precomputed at construction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from . import filters as fb
from . import transform as tf
from .config import JTFSConfig, JTFSSettings
from .filterops import FilterDecimate
from .transform import Scalogram

# Upper bound on the complex elements of one batched frequential-filter op (bounds the full transform's
# memory; single paths are one filter anyway).
CHUNK_ELEMENTS = 2**24


@dataclass(frozen=True)
class PathInfo:
    """Description of one SCRAPL path (n2, n_fr); rate_hz is None when no sample rate was given."""

    path_idx: int
    n2: int
    n_fr: int
    j2: int
    j_fr: int
    spin: int
    n1_max: int
    xi2: float
    xi_fr: float
    rate_hz: float | None
    scale_cycles_per_octave: float


class JTFS(nn.Module):
    """JTFS of signals of length ``shape`` (docs/method.md#jtfs); filters are non-persistent buffers.

    ``forward(x)`` is the full joint transform (first-order and second-order paths, time-unpadded);
    ``paths``/``path_from_scalogram`` give single SCRAPL paths without time unpadding, as scrapl-loss.

    Args:
        settings: the transform's :class:`JTFSSettings`; or give its fields as keyword arguments instead
            (``JTFS(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)``).
    """

    def __init__(self, settings: JTFSSettings | None = None, **kwargs: Any) -> None:
        super().__init__()
        self.settings = JTFSSettings.of(settings, **kwargs)
        cfg = JTFSConfig.build(self.settings)
        self.cfg = cfg
        self.scrapl_keys: list[tuple[int, int]] = cfg.keys
        self.n_paths = len(cfg.keys)
        self.meta = cfg.meta()
        self.psi1 = nn.ModuleDict()
        for k, (start, stop) in cfg.psi1_groups.items():
            spectra = np.stack([fb.morlet_spectrum(cfg.n_pad, p.xi, p.sigma) for p in cfg.psi1[start:stop]])
            self.psi1[str(k)] = FilterDecimate(spectra, k)
        self.psi2 = nn.ModuleDict()
        for n2 in cfg.valid_n2:
            p = cfg.psi2[n2]
            levels = fb.alias_levels(fb.morlet_spectrum(cfg.n_pad, p.xi, p.sigma), max(cfg.k1_levels(n2)) + 1)
            for k in cfg.k1_levels(n2):
                self.psi2[f"{n2}_{k}"] = FilterDecimate(levels[k], min(p.j - k, cfg.log2_t))
        phi = fb.alias_levels(fb.morlet_spectrum(cfg.n_pad, 0.0, fb.SIGMA0 / cfg.T), cfg.log2_t + 1)
        self.phi = nn.ModuleDict(
            {str(k): FilterDecimate(level, cfg.log2_t - k) for k, level in enumerate(phi)}
        )
        for n_fr, p in enumerate(cfg.psi_fr):
            spectrum = fb.morlet_spectrum(cfg.n_fr_pad, p.xi, p.sigma)
            spectrum = spectrum.astype(np.float32).astype(np.float64)  # the reference's filter precision
            m_fr = tf.frequential_matrix(spectrum, cfg.k_fr(n_fr))
            self._buffer(f"m_fr_re_{n_fr}", torch.from_numpy(m_fr.real))  # real pairs follow .double()
            self._buffer(f"m_fr_im_{n_fr}", torch.from_numpy(m_fr.imag))
        phi_fr = fb.alias_levels(fb.morlet_spectrum(cfg.n_fr_pad, 0.0, fb.SIGMA0 / cfg.F), cfg.log2_f + 1)
        for k, level in enumerate(phi_fr):
            self._buffer(f"phi_fr_{k}", torch.from_numpy(level))

    def _buffer(self, name: str, value: torch.Tensor) -> None:
        self.register_buffer(name, value.to(torch.float32).contiguous(), persistent=False)

    def _get(self, name: str) -> torch.Tensor:
        return self._buffers[name]

    def _m_fr(self, n_fr: int, n: int) -> torch.Tensor:
        """First n columns of the frequential matrix of ``n_fr``: (R, n) complex."""
        return torch.complex(self._get(f"m_fr_re_{n_fr}")[:, :n], self._get(f"m_fr_im_{n_fr}")[:, :n])

    def like(self) -> torch.Tensor:
        """A real filter buffer: inputs must share its dtype and device (they follow ``.to()``)."""
        return self._get("phi_fr_0")

    # ------------------------------------------------------------------ metadata
    def path_info(self, path_idx: int, sample_rate: float | None = None) -> PathInfo:
        """Metadata of path ``path_idx``; the temporal rate in Hz needs ``sample_rate``."""
        self._check_path(path_idx, "path_idx")
        m = {k: v[path_idx] for k, v in self.meta.items() if k != "key"}
        if sample_rate is not None and not (math.isfinite(sample_rate) and sample_rate > 0):
            raise ValueError(f"sample_rate must be a positive finite number, got {sample_rate!r}")
        return PathInfo(
            path_idx=path_idx,
            n2=int(m["n2"]),
            n_fr=int(m["n_fr"]),
            j2=int(m["j2"]),
            j_fr=int(m["j_fr"]),
            spin=int(m["spin"]),
            n1_max=int(m["n1_max"]),
            xi2=float(m["xi2"]),
            xi_fr=float(m["xi_fr"]),
            rate_hz=None if sample_rate is None else float(m["xi2"]) * sample_rate,
            scale_cycles_per_octave=abs(float(m["xi_fr"])) * self.settings.Q1,
        )

    def n1_max(self, path_indices: Sequence[int]) -> int:
        """Number of leading first-order bands (j1 < j2) the given paths need."""
        if len(path_indices) == 0:
            raise ValueError("path_indices must not be empty")
        for p in path_indices:
            self._check_path(p, "path_indices")
        return max(self.cfg.n1_max_of[self.scrapl_keys[p][0]] for p in path_indices)

    # ------------------------------------------------------------------ computation
    def scalogram(self, x: torch.Tensor, n1_max: int) -> Scalogram:
        """First-order spectra of ``x`` (B, N) for bands ``0..n1_max-1`` (differentiable)."""
        x = self._check_input(x)
        if not (isinstance(n1_max, int) and 1 <= n1_max <= len(self.cfg.psi1)):
            raise ValueError(f"n1_max must be an int in [1, {len(self.cfg.psi1)}], got {n1_max!r}")
        x_pad = nn.functional.pad(x, (self.cfg.pad_left, self.cfg.pad_right), mode="reflect")
        x_hat = torch.fft.rfft(x_pad)
        psi1 = [
            (k, self.psi1[str(k)], min(stop, n1_max) - start)
            for k, (start, stop) in self.cfg.psi1_groups.items()
            if start < n1_max
        ]
        return Scalogram(tf.first_order(x_hat, psi1), n1_max)

    def _y2(self, s: Scalogram, n2: int) -> torch.Tensor:
        """Second-order Y2 for ``n2`` over its n1_max rows: (B, n1_max(n2), N_pad / 2^j2) complex."""
        cfg = self.cfg
        need = cfg.n1_max_of[n2]
        if s.n1_max < need:
            raise ValueError(f"scalogram has n1_max={s.n1_max} bands but n2={n2} needs {need}")
        counts = [
            max(0, min(stop, need) - start) for start, stop in cfg.psi1_groups.values() if start < s.n1_max
        ]
        psi2 = {k: self.psi2[f"{n2}_{k}"] for k in cfg.k1_levels(n2)}
        return tf.second_order(s.groups, counts, psi2)

    def _joint(self, y: torch.Tensor, n_frs: Sequence[int], j2: int | None) -> torch.Tensor:
        """Paths ``n_frs`` from the n1 rows y (B, n, L) -> (B, len(n_frs), F', T').

        j2 None means first-order paths (input already time-averaged: no time low-pass).  Filters sharing
        (k_fr, spin class) are batched, in chunks of at most ``CHUNK_ELEMENTS`` complex elements.
        """
        cfg = self.cfg
        phi_t = None if j2 is None else self.phi[str(j2)]
        out: list[torch.Tensor | None] = [None] * len(n_frs)
        n = y.shape[-2]
        chunk = max(1, CHUNK_ELEMENTS // (y.shape[0] * cfg.n_fr_pad * y.shape[-1]))
        for (k_fr, spun), group in cfg.group_n_fr(n_frs).items():
            phi_fr = self._get(f"phi_fr_{k_fr}") if spun else None
            for c in range(0, len(group), chunk):
                members = group[c : c + chunk]
                m_fr = torch.stack([self._m_fr(n_frs[i], n) for i in members])
                res = tf.joint_paths(y, m_fr, phi_t, phi_fr, cfg.log2_f - k_fr)
                for pos, i in enumerate(members):
                    out[i] = res[:, pos]
        return torch.stack(out, dim=1)

    def path_from_scalogram(self, s: Scalogram, path_idx: int) -> torch.Tensor:
        """One SCRAPL path from a shared scalogram: (B, 1, N_fr / 2^log2F, N_pad / 2^log2T), not unpadded."""
        self._check_path(path_idx, "path_idx")
        n2, n_fr = self.scrapl_keys[path_idx]
        return self._joint(self._y2(s, n2), [n_fr], self.cfg.psi2[n2].j)

    def paths(self, x: torch.Tensor, path_indices: Sequence[int]) -> list[torch.Tensor]:
        """Several paths of ``x`` (B, N) sharing one scalogram and one Y2 per n2; list of (B, 1, F', T')."""
        s = self.scalogram(x, self.n1_max(path_indices))
        by_n2: dict[int, list[int]] = {}
        for i, p in enumerate(path_indices):
            by_n2.setdefault(self.scrapl_keys[p][0], []).append(i)
        out: list[torch.Tensor | None] = [None] * len(path_indices)
        for n2, members in by_n2.items():
            n_frs = [self.scrapl_keys[path_indices[i]][1] for i in members]
            res = self._joint(self._y2(s, n2), n_frs, self.cfg.psi2[n2].j)
            for pos, i in enumerate(members):
                out[i] = res[:, pos : pos + 1]
        return out

    def scattering_singlepath(self, x: torch.Tensor, n2: int, n_fr: int) -> dict:
        """Drop-in for the reference's ``jtfs.scattering_singlepath``: dict with coef (B, 1, F', T')."""
        if (n2, n_fr) not in self.cfg.key_index:
            raise ValueError(f"(n2, n_fr)=({n2!r}, {n_fr!r}) is not a SCRAPL path")
        p = self.cfg.key_index[(n2, n_fr)]
        coef = self.paths(x, [p])[0]
        return {
            "coef": coef,
            "spin": int(self.meta["spin"][p]),
            "n1_max": self.cfg.n1_max_of[n2],
            "n2": n2,
            "n_fr": n_fr,
            "j2": self.cfg.psi2[n2].j,
            "j_fr": self.cfg.psi_fr[n_fr].j,
        }

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Full joint JTFS, time-unpadded: (B, N) -> (B, n_coeffs, N_fr / 2^log2F, T_unpadded).

        Channels: the first-order paths (n_fr = 0..K, spin >= 0), then every (n2, n_fr) in ``scrapl_keys``
        order.  No checkpointing is needed: per n2, autograd keeps only Y2 (the joint stage rebuilds its
        large ``m @ Y2`` in backward) and the small averaged outputs.
        """
        cfg = self.cfg
        s = self.scalogram(x, len(cfg.psi1))
        s1 = tf.first_order_averaged(s.groups, {k: self.phi[str(k)] for k in range(cfg.log2_t + 1)})
        coeffs = [self._joint(s1, cfg.first_order_n_fr, None)]
        all_n_fr = list(range(len(cfg.psi_fr)))
        coeffs += [self._joint(self._y2(s, n2), all_n_fr, cfg.psi2[n2].j) for n2 in cfg.valid_n2]
        return torch.cat(coeffs, dim=1)[..., cfg.unpad_start : cfg.unpad_stop]

    # ------------------------------------------------------------------ validation
    def _check_path(self, p: int, name: str) -> None:
        if isinstance(p, bool) or not isinstance(p, int) or not 0 <= p < self.n_paths:
            raise ValueError(f"{name}: path index must be an int in [0, {self.n_paths}), got {p!r}")

    def _check_input(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or x.ndim != 2:
            raise ValueError(f"x must be a (B, N) tensor, got {getattr(x, 'shape', type(x))}")
        if x.shape[-1] != self.cfg.shape:
            raise ValueError(f"x must have length N={self.cfg.shape}, got {x.shape[-1]}")
        dtype = self.like().dtype
        if x.dtype != dtype:
            raise ValueError(f"x must have dtype {dtype} (the filters' dtype), got {x.dtype}")
        if not bool(torch.isfinite(x).all()):
            raise ValueError("x contains NaN or infinite values")
        return x
