"""Per-parameter θ-gradient normalisation for audio losses (``--theta-grad-norm``).

Why: on the tr808 JTFS paths the gradient ∂L/∂θ̂ is dominated by pitch and noise parameters; the share of
``osc1_decay`` is below 6 % on every measured path (docs/results.md, "tr808 decay"), so re-weighting
*paths* (θ-IS, importance weights) cannot give the decay a say.  This rescales each θ dimension u of the
gradient arriving at the encoder output by s̄ / s_u, with s_u² a bias-corrected running mean (β) of the
batch-mean squared gradient of θ̂_u and s̄² the mean of s_u² over u: every parameter is pushed about as hard
on average, and the overall gradient scale is kept (so plain SGD learning rates still apply).
"""

from __future__ import annotations

from typing import Any

import torch


class ThetaGradNorm:
    """Running per-dimension RMS of ∂L/∂θ̂ (U,) and the hook that rescales the gradient (B, U) by it."""

    def __init__(self, n_theta: int, beta: float = 0.99) -> None:
        if n_theta < 1:
            raise ValueError(f"n_theta must be >= 1, got {n_theta}")
        if not 0.0 <= beta < 1.0:
            raise ValueError(f"beta must be in [0, 1), got {beta}")
        self.beta = beta
        self.v = torch.zeros(n_theta, dtype=torch.float64)
        self.t = 0

    def __call__(self, grad: torch.Tensor) -> torch.Tensor:
        """Rescaled gradient (B, U) of a gradient (B, U); updates the running statistics once per call.

        Under an initialised ``torch.distributed`` group the batch statistics are averaged over ranks first,
        so every rank rescales identically (this runs before any DDP bucket is reduced).
        """
        if grad.ndim != 2 or grad.shape[1] != self.v.numel():
            raise ValueError(f"grad must have shape (B, {self.v.numel()}), got {tuple(grad.shape)}")
        m = grad.detach().double().square().mean(0).cpu()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            m = m.to(grad.device)
            torch.distributed.all_reduce(m)
            m = m.cpu() / torch.distributed.get_world_size()
        self.t += 1
        self.v = self.beta * self.v + (1.0 - self.beta) * m
        s2 = self.v / (1.0 - self.beta**self.t)
        if not bool((s2 > 0).all()):  # a dimension that never had a gradient: leave the step unchanged
            return grad
        scale = (s2.mean() / s2).sqrt()
        return grad * scale.to(grad.dtype).to(grad.device)

    def attach(self, theta_hat: torch.Tensor) -> None:
        """Rescale the gradient that flows back through ``theta_hat`` (B, U) to the encoder."""
        theta_hat.register_hook(self)

    def state_dict(self) -> dict[str, Any]:
        return {"v": self.v.clone(), "t": self.t, "beta": self.beta}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        v = torch.as_tensor(state["v"], dtype=torch.float64)
        if v.shape != self.v.shape:
            raise ValueError(f"state v has shape {tuple(v.shape)}, expected {tuple(self.v.shape)}")
        self.v, self.t, self.beta = v.clone(), int(state["t"]), float(state["beta"])
