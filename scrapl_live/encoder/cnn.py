"""Spectral 2-D CNN of the SCRAPL paper: CQT image → θ̂ ∈ (0, 1)^U.

Block = LayerNorm over (bins, frames), no affine → Conv2d 3×3 'same' → MaxPool → PReLU; then a global
mean over (bins, frames) → Linear(channels, latent) → PReLU → Dropout, and one head per parameter:
Linear(latent, latent/2) → PReLU → Dropout → Linear(latent/2, 1) → Sigmoid.

A single-window network fixes its pools for its input size (:func:`effective_pools`); a multi-window
one (``ceil_mode``) pools with ceil rounding, so every pool keeps at least one cell and the same
graph takes any number of frames.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class CNNConfig:
    """CNN hyper-parameters: channel width, per-block pools (freq, time), latent size, dropout, U, and
    ``ceil_mode`` (pools round up: any input size, for multi-window encoders)."""

    channels: int
    pools: tuple[tuple[int, int], ...]
    latent: int
    dropout: float
    n_outputs: int
    ceil_mode: bool = False

    def __post_init__(self) -> None:
        if self.channels <= 0 or self.latent < 2 or self.n_outputs <= 0:
            raise ValueError(
                f"channels, latent and n_outputs must be positive (latent >= 2), got "
                f"{self.channels}, {self.latent}, {self.n_outputs}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        if not self.pools or any(len(p) != 2 or min(p) < 1 for p in self.pools):
            raise ValueError(
                f"pools must be a non-empty sequence of (freq, time) pairs >= 1, got {self.pools}"
            )


def effective_pools(
    pools: tuple[tuple[int, int], ...], n_bins: int, n_frames: int
) -> tuple[tuple[int, int], ...]:
    """Clamp each pool so that no axis shrinks below one cell (short windows have few frames).

    The paper's pools assume full-length inputs (e.g. 173 frames for tr808); a 2048-sample window has
    only 9 frames, so a time pool of 3 on a 2-frame map becomes 2, and 1 once the axis is a single cell.
    """
    out = []
    f, t = n_bins, n_frames
    for pf, pt in pools:
        pf, pt = min(pf, f), min(pt, t)
        out.append((pf, pt))
        f, t = f // pf, t // pt
    return tuple(out)


class _Head(nn.Module):
    """Linear(latent, latent/2) → PReLU → Dropout → Linear(latent/2, 1) → Sigmoid; (B, latent) → (B, 1)."""

    def __init__(self, latent: int, dropout: float) -> None:
        super().__init__()
        self.hidden = nn.Linear(latent, latent // 2)
        self.act = nn.PReLU()
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(latent // 2, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.out(self.drop(self.act(self.hidden(z)))))


class Spectral2DCNN(nn.Module):
    """(B, 1, n_bins, n_frames) → θ̂ (B, U) in (0, 1); pools are fixed at construction for the input size,
    or (``cfg.ceil_mode``) the configured pools with ceil rounding for any size."""

    def __init__(self, cfg: CNNConfig, n_bins: int, n_frames: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.pools = cfg.pools if cfg.ceil_mode else effective_pools(cfg.pools, n_bins, n_frames)
        self.convs = nn.ModuleList(
            nn.Conv2d(1 if i == 0 else cfg.channels, cfg.channels, 3, padding=1)
            for i in range(len(cfg.pools))
        )
        self.acts = nn.ModuleList(nn.PReLU() for _ in cfg.pools)
        self.proj = nn.Linear(cfg.channels, cfg.latent)
        self.proj_act = nn.PReLU()
        self.drop = nn.Dropout(cfg.dropout)
        self.heads = nn.ModuleList(_Head(cfg.latent, cfg.dropout) for _ in range(cfg.n_outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (B, 1, F, T) → (B, U)."""
        for conv, act, pool in zip(self.convs, self.acts, self.pools, strict=True):
            x = F.layer_norm(x, x.shape[-2:])
            x = act(F.max_pool2d(conv(x), pool, ceil_mode=self.cfg.ceil_mode))
        z = self.drop(self.proj_act(self.proj(x.mean(dim=(2, 3)))))
        return torch.cat([head(z) for head in self.heads], dim=1)
