"""Per-path coefficients, gradients and the full transform against the reference (scrapl-loss 0.1.0)."""

from __future__ import annotations

import pytest
import torch

from scrapl_live.scattering import JTFS
from tests.reference import run_reference

CONFIGS = {
    "granular": (dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8), 13),
    "drums": (dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1), 19),
}
GRAD_PATHS = {"granular": [0, 97, 314], "drums": [5, 250, 482]}
TOY = dict(shape=1024, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1)

_REFERENCE_CODE = """
for name, (cfg, idx, grad_idx, x, w) in inputs.items():
    loss = SCRAPLLoss(**cfg)
    keys = loss.scrapl_keys
    path = lambda xx, i: loss.jtfs.scattering_singlepath(xx, *keys[i])["coef"].squeeze(-1)
    res = {"coefs": [path(x, i) for i in idx], "grads": []}
    for i, wi in zip(grad_idx, w):
        xg = x.clone().requires_grad_(True)
        (path(xg, i) * wi).sum().backward()
        res["grads"].append(xg.grad)
    if "full" in name:
        xg = x.clone().requires_grad_(True)
        res["full"] = loss.jtfs.scattering(xg)
        (res["full"] * torch.linspace(-1, 1, res["full"].numel()).reshape(res["full"].shape)).sum().backward()
        res["full"], res["full_grad"] = res["full"].detach(), xg.grad
    outputs[name] = res
"""


def _relative_error(ours: torch.Tensor, theirs: torch.Tensor) -> float:
    return float((ours - theirs).norm() / theirs.norm())


def _stratified(n_paths: int, step: int) -> list[int]:
    """Every ``step``-th path (step coprime with the n_fr count, so every n_fr and most n2 appear)."""
    return list(range(0, n_paths, step))


@pytest.fixture(scope="module")
def comparison() -> dict:
    """Our and the reference's coefficients/gradients for both paper configs and the toy one (B=1)."""
    torch.manual_seed(0)
    inputs, ours = {}, {}
    for name, (cfg, step) in {**CONFIGS, "toy_full": (TOY, 1)}.items():
        jtfs = JTFS(**cfg)
        idx = _stratified(jtfs.n_paths, step)
        grad_idx = GRAD_PATHS.get(name, [0, 3])
        x = torch.randn(1 if name != "toy_full" else 2, cfg["shape"])
        shape = jtfs.paths(x[:1], [0])[0].shape
        w = [torch.randn(x.shape[0], *shape[1:]) for _ in grad_idx]
        inputs[name] = (cfg, idx, grad_idx, x, w)
        grads = []
        for i, wi in zip(grad_idx, w, strict=True):
            xg = x.clone().requires_grad_(True)
            (jtfs.paths(xg, [i])[0] * wi).sum().backward()
            grads.append(xg.grad)
        ours[name] = {"coefs": jtfs.paths(x, idx), "grads": grads}
        if "full" in name:
            xg = x.clone().requires_grad_(True)
            full = jtfs(xg)
            (full * torch.linspace(-1, 1, full.numel()).reshape(full.shape)).sum().backward()
            ours[name].update(full=full.detach(), full_grad=xg.grad)
    return {"ours": ours, "ref": run_reference(_REFERENCE_CODE, inputs), "inputs": inputs}


@pytest.mark.slow
@pytest.mark.parametrize("name", ["granular", "drums", "toy_full"])
def test_path_coefficients_equal_reference(comparison: dict, name: str) -> None:
    ours, ref = comparison["ours"][name]["coefs"], comparison["ref"][name]["coefs"]
    assert len(ours) >= (20 if name != "toy_full" else 7)
    for o, r in zip(ours, ref, strict=True):
        assert o.shape == r.shape
        assert _relative_error(o, r) <= 1e-4


@pytest.mark.slow
@pytest.mark.parametrize("name", ["granular", "drums", "toy_full"])
def test_input_gradients_equal_reference(comparison: dict, name: str) -> None:
    for o, r in zip(comparison["ours"][name]["grads"], comparison["ref"][name]["grads"], strict=True):
        assert torch.isfinite(o).all()
        assert _relative_error(o, r) <= 1e-3


@pytest.mark.slow
def test_full_transform_equals_reference_on_toy(comparison: dict) -> None:
    ours, ref = comparison["ours"]["toy_full"]["full"], comparison["ref"]["toy_full"]["full"]
    assert ours.shape == ref.shape == (2, 4 + 7, 9, 128)
    assert _relative_error(ours, ref) <= 1e-4
    grad, ref_grad = comparison["ours"]["toy_full"]["full_grad"], comparison["ref"]["toy_full"]["full_grad"]
    assert _relative_error(grad, ref_grad) <= 1e-3
