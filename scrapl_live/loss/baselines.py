"""Baseline losses of the SCRAPL paper behind one small interface (docs/method.md).

``make_loss(name, **cfg)`` returns an ``nn.Module``; audio losses take ``forward(x, x_target)`` with
(B, C, N) signals (the SCRAPLLoss convention, x = prediction) and return a scalar:

- ``"jtfs"``: full-JTFS loss = mean over all JTFS paths (first- and second-order) and batch of the
  unsquared per-path p-norm over (freq, time) of the time-unpadded coefficients (``JTFSTLoss``);
  cfg = JTFS settings (shape, J, Q1, Q2, J_fr, Q_fr, T, F) + p, use_rho_log1p, log1p_eps.
- ``"mss-lin"``: auraloss MR-STFT, FFT 64…2048, hop FFT/4, Hann, L1 of linear magnitudes.
- ``"mss-loglin"``: the same with L1 of log magnitudes + L1 of linear magnitudes (no spectral
  convergence term).
- ``"mss-rev"``: "MSS revisited", see :class:`scrapl_live.loss.mss.LogMSSLoss`.
- ``"mss-rand"``: random-resolution MSS, see :class:`scrapl_live.loss.mss.RandomResolutionSTFTLoss`.

``"ploss"`` (parameter loss) has its own signature: ``forward(theta_hat, theta)`` with (B, U) tensors;
cfg ``kind="l1"`` (mean absolute error, the paper's θ L1) or ``"mse"``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from scrapl_live.loss.distance import JTFSDistance
from scrapl_live.loss.mss import LogMSSLoss, MultiResolutionSTFTLoss, RandomResolutionSTFTLoss, check_pair
from scrapl_live.scattering import JTFSSettings


class JTFSLoss(nn.Module):
    """Full-JTFS distance (module docstring): x, x_target (B, C, N) -> scalar.

    Args:
        settings: the :class:`~scrapl_live.scattering.JTFSSettings`, or give its fields (shape, J, Q1, Q2,
            J_fr, Q_fr, T, F) as keyword arguments instead.
        p: order of the per-example, per-path norm over (frequency, time).
        use_rho_log1p: compress coefficients as log1p(S / log1p_eps) first.
        log1p_eps: the knee of that compression.
    """

    def __init__(self, settings: JTFSSettings | None = None, *, p: float = 2.0, use_rho_log1p: bool = False,
                 log1p_eps: float = 1e-3, **jtfs: Any) -> None:
        super().__init__()
        self.distance = JTFSDistance(JTFSSettings.of(settings, **jtfs), p, use_rho_log1p, log1p_eps)
        self.shape = self.distance.jtfs.settings.shape

    def forward(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """x, x_target: (B, C, N) -> scalar."""
        x, t = check_pair(x, x_target)
        if x.shape[-1] != self.shape:
            raise ValueError(f"x has {x.shape[-1]} samples but the JTFS expects shape={self.shape}")
        return self.distance.full(x, t)


class ParamLoss(nn.Module):
    """Parameter loss between predicted and true synth parameters: L1 (mean |θ̂ - θ|) or MSE."""

    def __init__(self, kind: str = "l1") -> None:
        super().__init__()
        if kind not in ("l1", "mse"):
            raise ValueError(f"kind must be 'l1' or 'mse', got {kind!r}")
        self.kind = kind

    def forward(self, theta_hat: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
        """theta_hat, theta: (B, U) -> scalar."""
        for name, v in (("theta_hat", theta_hat), ("theta", theta)):
            if not isinstance(v, torch.Tensor) or v.ndim != 2 or not v.is_floating_point():
                got = getattr(v, "shape", v)
                raise ValueError(f"{name} must be a floating (batch, n_params) tensor, got {got}")
            if not bool(torch.isfinite(v.detach()).all()):
                raise ValueError(f"{name} contains NaN or infinite values")
        if theta_hat.shape != theta.shape:
            shapes = f"{tuple(theta_hat.shape)} vs {tuple(theta.shape)}"
            raise ValueError(f"theta_hat and theta shapes differ: {shapes}")
        diff = theta_hat - theta
        return diff.abs().mean() if self.kind == "l1" else diff.pow(2).mean()


_FACTORIES: dict[str, Callable[..., nn.Module]] = {
    "jtfs": JTFSLoss,
    "mss-lin": lambda **cfg: MultiResolutionSTFTLoss(**{"w_lin_mag": 1.0, "w_log_mag": 0.0, **cfg}),
    "mss-loglin": lambda **cfg: MultiResolutionSTFTLoss(**{"w_lin_mag": 1.0, "w_log_mag": 1.0, **cfg}),
    "mss-rev": LogMSSLoss,
    "mss-rand": RandomResolutionSTFTLoss,
    "ploss": ParamLoss,
}


def names() -> list[str]:
    """Names accepted by :func:`make_loss`."""
    return list(_FACTORIES)


def make_loss(name: str, **cfg: object) -> nn.Module:
    """Build the baseline loss ``name`` (see :func:`names`) with its keyword configuration."""
    if name not in _FACTORIES:
        raise ValueError(f"unknown loss name {name!r}; choose one of {names()}")
    try:
        return _FACTORIES[name](**cfg)
    except TypeError as exc:
        raise ValueError(f"bad configuration for loss {name!r}: {exc}") from exc
