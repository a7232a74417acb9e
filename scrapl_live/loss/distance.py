"""The JTFS distance shared by SCRAPLLoss (on sampled paths) and the full-JTFS loss (on all paths).

Per example and path: d = || ρ(S x_target) - ρ(S x) ||_p over (frequency, time), an unsquared p-norm,
with ρ the identity or log1p(S / log1p_eps) (docs/method.md#scrapl-path-sampling).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scrapl_live.scattering import JTFS, JTFSSettings


def pnorm_distance(sx: torch.Tensor, st: torch.Tensor, p: float) -> torch.Tensor:
    """p-norm of (st - sx) over the last two axes (frequency, time): (..., F, T) -> (...)."""
    return torch.linalg.vector_norm(st - sx, ord=p, dim=(-2, -1))


class JTFSDistance(nn.Module):
    """JTFS coefficients, ρ and the per-example distance, per path or over the full transform.

    Args:
        settings: the JTFS.
        p: order of the norm over (frequency, time), > 0.
        use_rho_log1p: ρ(S) = log1p(S / log1p_eps) instead of the identity.
        log1p_eps: the knee of ρ, > 0.
    """

    def __init__(self, settings: JTFSSettings, p: float = 2.0, use_rho_log1p: bool = False,
                 log1p_eps: float = 1e-3) -> None:
        super().__init__()
        if not p > 0:
            raise ValueError(f"p must be > 0, got {p}")
        if not log1p_eps > 0:
            raise ValueError(f"log1p_eps must be > 0, got {log1p_eps}")
        self.jtfs = JTFS(settings)
        self.p, self.use_rho_log1p, self.log1p_eps = p, use_rho_log1p, log1p_eps

    def rho(self, s: torch.Tensor) -> torch.Tensor:
        """Coefficient compression ρ (any shape)."""
        return torch.log1p(s / self.log1p_eps) if self.use_rho_log1p else s

    def coeffs(self, x: torch.Tensor, paths: Sequence[int]) -> list[torch.Tensor]:
        """ρ(S_p x), each (B, 1, F', T'), for each path p of x (B, N): one scalogram for all paths."""
        return [self.rho(s) for s in self.jtfs.paths(x, list(paths))]

    def target_coeffs(self, x_target: torch.Tensor, paths: Sequence[int]) -> list[torch.Tensor]:
        """:meth:`coeffs` of the target, without autograd unless ``x_target`` requires grad (as in the
        θ-IS warm-up, where the synthesised signal is the second argument)."""
        with torch.set_grad_enabled(x_target.requires_grad and torch.is_grad_enabled()):
            return self.coeffs(x_target, paths)

    def dist(self, sx: torch.Tensor, st: torch.Tensor) -> torch.Tensor:
        """Per-example distance of coefficients (B, 1, F', T') -> (B, 1)."""
        return pnorm_distance(sx, st, self.p)

    def path_dists(self, x: torch.Tensor, targets: Sequence[torch.Tensor], paths: Sequence[int]
                   ) -> torch.Tensor:
        """Distances (P', B) of x (B, N) to the target coefficients ``targets`` of the same ``paths``."""
        pairs = zip(self.coeffs(x, paths), targets, strict=True)
        return torch.stack([self.dist(sx, st)[:, 0] for sx, st in pairs])

    def full(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """Mean over examples and all JTFS paths (first and second order, time-unpadded); x (B, N)."""
        sx = self.rho(self.jtfs(x))
        with torch.set_grad_enabled(x_target.requires_grad and torch.is_grad_enabled()):
            st = self.rho(self.jtfs(x_target))
        return pnorm_distance(sx, st, self.p).mean()
