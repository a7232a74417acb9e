"""pathsens.analyse / step_shares on per-path gradients with a known structure (closed forms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scrapl_live.train.pathsens import analyse, step_shares


def _grads() -> torch.Tensor:
    # path 0 moves only θ_0 (strongly), path 1 only θ_1 (weakly), path 2 both equally: (P'=3, B=2, U=2)
    g = torch.zeros(3, 2, 2, dtype=torch.float64)
    g[0, :, 0] = 100.0
    g[1, :, 1] = 0.01
    g[2, :, :] = 1.0
    return g


def test_shares_and_theta_is_proxy_match_closed_forms() -> None:
    res = analyse(_grads(), ["a", "b"], np.array([1000.0, 100.0, 5.0]), ks=(1,), draws=3000)
    np.testing.assert_allclose(res["share"], [[1, 0], [0, 1], [0.5, 0.5]], atol=1e-12)
    # per-u distribution over paths: u=a: (1e4, 0, 1)/(1e4+1); u=b: (0, 1e-4, 1)/(1+1e-4); mean over u
    expected = 0.5 * (np.array([1e4, 0, 1]) / (1e4 + 1) + np.array([0, 1e-4, 1]) / (1 + 1e-4))
    np.testing.assert_allclose(res["theta_is_proxy"], expected, rtol=1e-12)
    assert res["paths_by_rate"] == {"> 500 Hz": 1, "50-500 Hz": 1, "10-50 Hz": 0, "<= 10 Hz": 1}
    # uniform k=1 with unit-normalised paths: E[share_a] = (1 + 0 + 0.5) / 3
    assert res["step_share"]["uniform k=1"]["a"] == pytest.approx(0.5, abs=0.03)


def test_step_shares_k_equal_to_all_paths_is_deterministic() -> None:
    g = _grads()
    out = step_shares(g, np.full(3, 1 / 3), k=3, draws=5, rng=np.random.default_rng(0))
    unit = g / g.flatten(1).norm(dim=1)[:, None, None]
    e = unit.mean(0).square().sum(0).numpy()
    np.testing.assert_allclose(out, e / e.sum(), rtol=1e-12)
