"""pathsens.analyse / step_shares on per-path gradients with a known structure (closed forms)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pathsens import analyse, step_drift, step_shares


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
    # uniform k=1: a step is one path, its shares (1, 0), (0, 1), (0.5, 0.5): E[share_a] = 1.5 / 3
    assert res["step_share"]["uniform k=1"]["a"] == pytest.approx(0.5, abs=0.03)
    assert res["step_drift"] == {}  # no θ̂ − θ given


def test_step_shares_mix_raw_gradients_so_the_loud_path_leads() -> None:
    g = _grads()
    out = step_shares(g, np.full(3, 1 / 3), k=3, draws=5, rng=np.random.default_rng(0))
    e = g.mean(0).square().sum(0).numpy()  # one backward pass of the mean loss: no per-path scaling
    np.testing.assert_allclose(out, e / e.sum(), rtol=1e-12)
    assert out[0] > 0.999  # path 0's gradient is 100x the others'


def test_step_drift_closed_forms() -> None:
    # U=1, B=2; item 0 has θ̂ > θ (error +), item 1 has θ̂ < θ (error −).  A descent step moves θ̂ by −g,
    # so g with the error's sign drifts right.  Path 0: loud, right on both items; paths 1, 2: quiet,
    # wrong on both.
    g = torch.tensor([[[10.0], [-10.0]], [[-1.0], [1.0]], [[-1.0], [1.0]]], dtype=torch.float64)
    error = torch.tensor([[0.3], [-0.2]], dtype=torch.float64)
    uniform = np.full(3, 1 / 3)
    rng = np.random.default_rng(0)
    # k=1: one path in three is right: (1 − 1 − 1)/3
    assert step_drift(g, error, uniform, 1, 6000, rng)[0] == pytest.approx(-1 / 3, abs=0.03)
    # k=3: the mean is led by the loud path: always right
    assert step_drift(g, error, uniform, 3, 3, rng)[0] == pytest.approx(1.0)
    # k=2: right whenever path 0 is drawn (2 of 3 pairs), else wrong: 2/3 − 1/3
    assert step_drift(g, error, uniform, 2, 6000, rng)[0] == pytest.approx(1 / 3, abs=0.03)
    # items within the tolerance are left out; a parameter with none gives NaN
    assert np.isnan(step_drift(g, error * 0.1, uniform, 1, 10, rng)[0])


def test_balanced_steps_give_each_path_an_equal_say() -> None:
    # The closed-form setting above, with distances proportional to the gradients (path 0: 10, paths 1
    # and 2: 1 on both items).  Balanced, each path's gradient is scaled by m/d = 4/10 or 4/1, so the
    # two quiet wrong paths (4 + 4) outweigh the loud right one (4): k = 3 is always wrong, not right.
    g = torch.tensor([[[10.0], [-10.0]], [[-1.0], [1.0]], [[-1.0], [1.0]]], dtype=torch.float64)
    error = torch.tensor([[0.3], [-0.2]], dtype=torch.float64)
    d = torch.tensor([[10.0, 10.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64)
    uniform = np.full(3, 1 / 3)
    rng = np.random.default_rng(0)
    assert step_drift(g, error, uniform, 3, 3, rng)[0] == pytest.approx(1.0)
    assert step_drift(g, error, uniform, 3, 3, rng, dists=d)[0] == pytest.approx(-1.0)
    # k = 2 balanced: {0, q} is a tie (4 vs 4: sign 0), {1, 2} wrong: (0 + 0 − 1)/3
    assert step_drift(g, error, uniform, 2, 6000, rng, dists=d)[0] == pytest.approx(-1 / 3, abs=0.03)
    res = analyse(g, ["a"], np.array([100.0, 10.0, 1.0]), ks=(1, 3), draws=30, error=error, dists=d)
    assert res["step_drift"]["uniform balanced k=3"]["a"] == pytest.approx(-1.0)
    assert "uniform balanced k=3" in res["step_share"]


def test_cli_reanalyses_a_saved_record(tmp_path) -> None:
    """``--from-grads`` analyses a saved record (here the closed-form one above, named like the shipped
    granular encoder's two parameters) without recomputing: the JSON holds its balanced drift."""
    import json
    from pathlib import Path

    from pathsens import main

    g = torch.tensor([[[10.0, 1.0], [-10.0, 1.0]], [[-1.0, 1.0], [1.0, 1.0]], [[-1.0, 1.0], [1.0, 1.0]]],
                     dtype=torch.float64)
    theta_hat = torch.tensor([[0.8, 0.9], [0.3, 0.9]], dtype=torch.float64)
    theta = theta_hat - torch.tensor([[0.3, 0.5], [-0.2, 0.5]], dtype=torch.float64)
    record = {"g": g, "d": torch.tensor([[10.0, 10.0], [1.0, 1.0], [1.0, 1.0]], dtype=torch.float64),
              "paths": [0, 1, 2], "rates": np.array([100.0, 10.0, 1.0]), "theta": theta,
              "theta_hat": theta_hat}
    torch.save(record, tmp_path / "rec.pt")
    checkpoint = Path(__file__).resolve().parents[2] / "models" / "granular.pt"
    assert main([str(checkpoint), "--out", str(tmp_path / "out"), "--ks", "1,3",
                 "--from-grads", str(tmp_path / "rec.pt")]) == 0
    res = json.loads((tmp_path / "out" / "path_theta_share.json").read_text())
    assert res["items"] == 2 and res["n_paths"] == 3
    (first, second) = res["step_drift"]["uniform balanced k=3"].values()
    assert first == pytest.approx(-1.0) and second == pytest.approx(1.0)  # θ_1: every path right
    assert next(iter(res["step_drift"]["uniform k=3"].values())) == pytest.approx(1.0)  # raw: loud path
    assert (tmp_path / "out" / "path_theta_share.png").is_file()
    assert not (tmp_path / "out" / "path_theta_grads.pt").exists()  # nothing recomputed or rewritten


def test_path_theta_grads_match_calc_dist_per_path() -> None:
    from pathsens import path_theta_grads

    from scrapl_live.loss import SCRAPLLoss

    torch.set_num_threads(1)
    n = 1024
    loss = SCRAPLLoss(shape=n, J=4, Q1=2, Q2=1, J_fr=2, Q_fr=1, use_rho_log1p=True, grad_mult=1.0)
    t = torch.arange(n) / n

    def synth(theta: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:  # θ = (frequency, level)
        return (theta[:, 1:] * torch.sin(2 * torch.pi * (20 + 200 * theta[:, :1]) * t))[:, None]

    theta_hat, seed = torch.tensor([[0.3, 0.8], [0.6, 0.5]]), torch.zeros(2)
    x = synth(torch.tensor([[0.5, 0.5], [0.2, 0.9]]), seed)
    paths = [0, 5, 9]
    g, d = path_theta_grads(loss, synth, theta_hat, x, seed, paths)
    assert g.shape == (3, 2, 2) and d.shape == (3, 2)
    for i, p in enumerate(paths):  # one path at a time through the loss's public single-path API
        leaf = theta_hat.clone().requires_grad_(True)
        value = loss.calc_dist(synth(leaf, seed), x, p)[0]
        (ref,) = torch.autograd.grad(value, leaf)
        torch.testing.assert_close(g[i], ref)
        assert float(d[i].mean()) == pytest.approx(float(value), rel=1e-6)
        for b in range(2):  # each item's distance is that item's single-example calc_dist
            alone = loss.calc_dist(synth(theta_hat[b : b + 1], seed[:1]), x[b : b + 1], p)[0]
            assert float(d[i, b]) == pytest.approx(float(alone), rel=1e-5)
