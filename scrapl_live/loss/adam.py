"""Adam with a continuous clock, the P-Adam update of one path's moments (docs/method.md#p-adam).

The moments decay by β^(t - prev_t) instead of β per step, so a path revisited after Δ steps ages by Δ;
:func:`adam_inplace` is the form :class:`~scrapl_live.loss.pathwise.PathwiseGradTransform` applies to a
row of its P-row tables.
"""

from __future__ import annotations

import math

import torch


def adam_grad_norm_cont(
    grad: torch.Tensor,
    prev_m: torch.Tensor,
    prev_v: torch.Tensor,
    t: float,
    prev_t: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Adam step with a continuous clock (scrapl-loss ``adam_grad_norm_cont``): returns (ĝ, m, v).

    grad, prev_m, prev_v: same shape.  t, prev_t: current and previous (normalised) times; the moments
    decay by β^(t - prev_t) and the bias corrections use β^t.  Nothing is modified in place.
    """
    m, v = prev_m.clone(), prev_v.clone()
    return adam_inplace(grad, m, v, t, prev_t, b1, b2, eps), m, v


def adam_inplace(
    grad: torch.Tensor, m: torch.Tensor, v: torch.Tensor, t: float, prev_t: float, b1: float, b2: float,
    eps: float,
) -> torch.Tensor:
    """:func:`adam_grad_norm_cont` updating m and v in place (no copies of the P-row tables); returns ĝ."""
    eff_b1, eff_b2 = b1 ** (t - prev_t), b2 ** (t - prev_t)
    m.lerp_(grad, 1 - eff_b1)
    v.mul_(eff_b2).addcmul_(grad, grad, value=1 - eff_b2)
    # (m / bc1) / (sqrt(v / bc2) + eps) with the bias corrections folded into the denominator's passes
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    denom = v.sqrt().mul_(bc1 / math.sqrt(bc2)).add_(bc1 * eps)
    return torch.div(m, denom, out=denom)
