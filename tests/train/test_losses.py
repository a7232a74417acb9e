"""The trainer's loss factory: ``log1p_eps`` moves the knee of SCRAPL's ρ = log1p(S/eps) (tr808)."""

from __future__ import annotations

import pytest
import torch

import synths
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.losses import make_train_loss


def test_log1p_eps_sets_the_knee_of_rho() -> None:
    synth = synths.get("tr808", **TrainConfig(synth="tr808").synth_options)
    x, t = synth(torch.rand(2, synth.n_params, generator=torch.Generator().manual_seed(1)), torch.arange(2))
    coeffs = {}
    for eps in (None, 1e-5):
        loss = make_train_loss(TrainConfig(synth="tr808", loss="scrapl", log1p_eps=eps), synth)
        _, sx, _ = loss.calc_dist(x[None], t[None], path_idx=100)
        coeffs[eps] = sx.double()
    # ρ_e(S) = log1p(S / e), so e · expm1(ρ_e) recovers the same raw coefficients for both knees.
    raw_default = 1e-3 * torch.expm1(coeffs[None])
    raw_low = 1e-5 * torch.expm1(coeffs[1e-5])
    torch.testing.assert_close(raw_low, raw_default, rtol=1e-4, atol=1e-9)
    assert (coeffs[1e-5] > coeffs[None]).any()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(synth="tr808", loss="scrapl", log1p_eps=0.0), "log1p_eps must be > 0"),
        (dict(synth="granular", loss="scrapl", log1p_eps=1e-5), "log1p_eps"),
        (dict(synth="tr808", loss="mss-rand", log1p_eps=1e-5), "log1p_eps"),
    ],
)
def test_log1p_eps_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kwargs)
