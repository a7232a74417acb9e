"""ThetaGradNorm: closed-form rescaling, the autograd hook, state round trip, argument errors."""

from __future__ import annotations

import pytest
import torch

from scrapl_live.train.config import TrainConfig
from scrapl_live.train.thetanorm import ThetaGradNorm


def test_constant_gradient_is_equalised_to_its_rms() -> None:
    # For a constant per-dimension gradient the bias-corrected mean square equals g² at every step, so
    # each dimension comes out with magnitude sqrt(mean_u g_u²) and its own sign.
    g = torch.tensor([[1.0, -1e-3, 1e2], [1.0, -1e-3, 1e2]], dtype=torch.float64)
    norm = ThetaGradNorm(3, beta=0.9)
    rms = g[0].square().mean().sqrt()
    for _ in range(4):
        out = norm(g.clone())
        torch.testing.assert_close(out, g.sign() * rms)


def test_hook_rescales_the_gradient_reaching_the_encoder_output() -> None:
    theta = torch.zeros(4, 2, requires_grad=True)
    w = torch.tensor([3.0, 0.01])
    norm = ThetaGradNorm(2, beta=0.5)
    view = theta.view_as(theta)
    norm.attach(view)
    (view * w).sum().backward()
    rms = w.square().mean().sqrt()
    torch.testing.assert_close(theta.grad, torch.full((4, 2), float(rms)))
    assert norm.t == 1


def test_state_round_trip_continues_identically() -> None:
    gen = torch.Generator().manual_seed(0)
    grads = [torch.randn(3, 4, generator=gen) * torch.tensor([1.0, 10.0, 0.1, 1e-3]) for _ in range(6)]
    ref = ThetaGradNorm(4, beta=0.8)
    ref_out = [ref(g) for g in grads]
    first = ThetaGradNorm(4, beta=0.8)
    for g in grads[:3]:
        first(g)
    resumed = ThetaGradNorm(4)
    resumed.load_state_dict(first.state_dict())
    for g, expected in zip(grads[3:], ref_out[3:], strict=True):
        torch.testing.assert_close(resumed(g), expected)


def test_errors_name_the_argument() -> None:
    with pytest.raises(ValueError, match="n_theta"):
        ThetaGradNorm(0)
    with pytest.raises(ValueError, match="beta"):
        ThetaGradNorm(2, beta=1.0)
    with pytest.raises(ValueError, match="grad"):
        ThetaGradNorm(2)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match=r"state v"):
        ThetaGradNorm(2).load_state_dict(ThetaGradNorm(3).state_dict())
    with pytest.raises(ValueError, match="theta_grad_norm"):
        TrainConfig(loss="ploss", theta_grad_norm=True)


def test_zero_gradient_dimension_leaves_the_step_unchanged() -> None:
    g = torch.tensor([[0.5, 0.0]])
    torch.testing.assert_close(ThetaGradNorm(2)(g), g)
