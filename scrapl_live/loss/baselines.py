"""Baseline losses of the SCRAPL paper behind one small interface (REFERENCE §2.1, §6).

``make_loss(name, **cfg)`` returns an ``nn.Module``; audio losses take ``forward(x, x_target)`` with
(B, C, N) signals (the SCRAPLLoss convention, x = prediction) and return a scalar:

- ``"jtfs"``: full-JTFS loss = mean over all JTFS paths (first- and second-order) and batch of the
  unsquared per-path p-norm over (freq, time) of the time-unpadded coefficients (``JTFSTLoss``);
  cfg = JTFS config (shape, J, Q1, Q2, J_fr, Q_fr, T, F) + p, use_rho_log1p, log1p_eps.
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

import torch
from torch import nn

from scrapl_live.loss.mss import LogMSSLoss, MultiResolutionSTFTLoss, RandomResolutionSTFTLoss, check_pair


class JTFSLoss(nn.Module):
    """Full-JTFS distance (see module docstring); the JTFS is built lazily from ``scrapl_live.scattering``."""

    def __init__(
        self,
        shape: int,
        J: int,
        Q1: int,
        Q2: int,
        J_fr: int,
        Q_fr: int,
        T: int | str | None = None,
        F: int | str | None = None,
        p: float = 2.0,
        use_rho_log1p: bool = False,
        log1p_eps: float = 1e-3,
    ) -> None:
        super().__init__()
        from scrapl_live.scattering import JTFS

        if not p > 0 or not log1p_eps > 0:
            raise ValueError(f"p and log1p_eps must be > 0, got p={p}, log1p_eps={log1p_eps}")
        self.jtfs = JTFS(shape, J, Q1, Q2, J_fr, Q_fr, T=T, F=F)
        self.shape, self.p, self.use_rho_log1p, self.log1p_eps = shape, p, use_rho_log1p, log1p_eps

    def _rho(self, s: torch.Tensor) -> torch.Tensor:
        return torch.log1p(s / self.log1p_eps) if self.use_rho_log1p else s

    def forward(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """x, x_target: (B, C, N) -> scalar."""
        x, t = check_pair(x, x_target)
        if x.shape[-1] != self.shape:
            raise ValueError(f"x has {x.shape[-1]} samples but the JTFS expects shape={self.shape}")
        sx = self._rho(self.jtfs(x))
        with torch.set_grad_enabled(t.requires_grad and torch.is_grad_enabled()):
            st = self._rho(self.jtfs(t))
        return torch.linalg.vector_norm(st - sx, ord=self.p, dim=(-2, -1)).mean()


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
