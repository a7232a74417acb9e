"""θ-IS warm-up: eigenvalues vs dense Jacobians, probabilities vs the reference rule, sharding, files."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch.func import functional_call

from scrapl_live.loss.warmup import (
    aggregate_vals,
    calc_theta_eigs,
    load_probs_from_warmup_dir,
    probs_from_vals,
    warmup_lc_hvp,
)
from tests.reference import reference_root, run_reference

N, U, N_PATHS = 32, 3, 5
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


class Encoder(torch.nn.Module):
    """x (B, 1, N) -> θ̂ (B, U) in (0, 1); keyword ``x`` as theta_fn_kwargs pass it."""

    def __init__(self) -> None:
        super().__init__()
        layers = [torch.nn.Flatten(), torch.nn.Linear(N, 6), torch.nn.Tanh(), torch.nn.Linear(6, U)]
        self.net = torch.nn.Sequential(*layers, torch.nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def build_toy(seed: int = 0, batch: int = 4, n_batches: int = 1, coupled: bool = False):
    """Tiny MLP encoder (N -> U in (0,1)), a sine-bank synth and a 5-"path" spectral loss.

    Path p projects the magnitude-spectrum difference with its own random matrix.  ``coupled`` adds a
    batch-level term so examples interact (the per-example shortcut no longer holds).
    """
    gen = torch.Generator().manual_seed(seed)
    enc = Encoder()
    with torch.no_grad():
        for p in enc.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
    proj = torch.randn(N_PATHS, 8, N // 2 + 1, generator=gen)
    n = torch.arange(N)

    def synth(theta: torch.Tensor) -> torch.Tensor:
        phase = 2 * torch.pi * (1 + 6 * theta).unsqueeze(-1) * n / N + torch.arange(U).unsqueeze(-1)
        return (torch.sin(phase) * theta.unsqueeze(-1)).sum(1, keepdim=True)

    def loss_fn(x: torch.Tensor, x_hat: torch.Tensor, p: int) -> torch.Tensor:
        d = torch.fft.rfft(x.squeeze(1)).abs() - torch.fft.rfft(x_hat.squeeze(1)).abs()
        per_item = torch.linalg.vector_norm(d @ proj[p].T, dim=-1)
        return per_item.mean() + (per_item.mean() ** 2 if coupled else 0.0)

    xs = [torch.randn(batch, 1, N, generator=gen) for _ in range(n_batches)]
    return enc, synth, loss_fn, [{"x": x} for x in xs]


def dense_operator(
    enc, synth, loss_fn, kwargs, p: int, u: int, names: list[str] | None = None
) -> torch.Tensor:
    """Jacobian of v_u(w) = J^T (g ⊙ e_u) w.r.t. the (selected) flattened weights, by autograd.functional."""
    named = dict(enc.named_parameters())
    names = names or list(named)
    shapes, sizes = [named[k].shape for k in names], [named[k].numel() for k in names]
    w0 = torch.cat([named[k].detach().reshape(-1) for k in names])
    x = kwargs["x"]

    def v(wf: torch.Tensor) -> torch.Tensor:
        sub = dict(zip(names, [c.view(s) for c, s in zip(wf.split(sizes), shapes, strict=True)], strict=True))
        theta = functional_call(enc, {**named, **sub}, (x,))
        g = torch.autograd.grad(loss_fn(x, synth(theta), p), theta, create_graph=True)[0]
        mask = torch.zeros_like(g)
        mask[:, u] = 1.0
        return torch.autograd.grad(theta, wf, grad_outputs=g * mask, create_graph=True)[0]

    return torch.autograd.functional.jacobian(v, w0.clone().requires_grad_()).double()


def dominant(mat: torch.Tensor) -> float:
    """Largest-magnitude eigenvalue (must be real and separated, so power iteration converges)."""
    ev = torch.linalg.eigvals(mat)
    order = ev.abs().argsort(descending=True)
    top, second = ev[order[0]], ev[order[1]]
    assert abs(top.imag) < 1e-6 * abs(top), "toy must have a real top eigenvalue"
    assert abs(top) > 1.02 * abs(second), "toy must have a separated top eigenvalue"
    return float(top.real)


def _eigs(enc, synth, loss_fn, kws, p, **kw) -> torch.Tensor:
    return calc_theta_eigs(loss_fn, p, enc, synth, kws, list(enc.parameters()), n_iter=600, tol=1e-10, **kw)


@pytest.mark.parametrize("path", [1, 3])
def test_eigenvalues_match_dense_operator(path: int) -> None:
    enc, synth, loss_fn, kws = build_toy()
    ours = _eigs(enc, synth, loss_fn, kws, path)
    assert ours.shape == (1, U) and ours.dtype == torch.float32
    for u in range(U):
        expected = dominant(dense_operator(enc, synth, loss_fn, kws[0], path, u))
        assert ours[0, u].item() == pytest.approx(expected, rel=1e-2)


def test_multibatch_sums_operators_and_cache_off_agrees() -> None:
    enc, synth, loss_fn, kws = build_toy(seed=1, n_batches=2)
    ours = _eigs(enc, synth, loss_fn, kws, 2)
    recomputed = _eigs(enc, synth, loss_fn, kws, 2, cache_graphs=False)
    for u in range(U):
        total = sum(dense_operator(enc, synth, loss_fn, kw, 2, u) for kw in kws)
        assert ours[0, u].item() == pytest.approx(dominant(total), rel=1e-2)
    torch.testing.assert_close(ours, recomputed, rtol=1e-4, atol=0)


def test_per_tensor_groups_match_dense_blocks() -> None:
    enc, synth, loss_fn, kws = build_toy(seed=2)
    ours = _eigs(enc, synth, loss_fn, kws, 0, agg="mean")
    names = [k for k, _ in enc.named_parameters()]
    assert ours.shape == (len(names), U)
    for gi in (0, 2):  # the two weight matrices
        for u in range(U):
            expected = dominant(dense_operator(enc, synth, loss_fn, kws[0], 0, u, names=[names[gi]]))
            assert ours[gi, u].item() == pytest.approx(expected, rel=1e-2)


def test_general_mode_handles_coupled_batches() -> None:
    enc, synth, loss_fn, kws = build_toy(seed=3, coupled=True)
    ours = _eigs(enc, synth, loss_fn, kws, 4, per_example=False)
    for u in range(U):
        expected = dominant(dense_operator(enc, synth, loss_fn, kws[0], 4, u))
        assert ours[0, u].item() == pytest.approx(expected, rel=1e-2)


def _expected_probs(vals: dict[int, torch.Tensor], n_paths: int, f: float, eps: float = 1e-12):
    """θ-IS rule written out: known paths share k/P ∝ C, unknown share the rest, then (1-f)π + f/P."""
    n_theta = next(iter(vals.values())).numel()
    k = len(vals)
    out = torch.zeros(n_paths, dtype=torch.float64)
    for u in range(n_theta):
        pi = torch.full((n_paths,), 1.0 / n_paths, dtype=torch.float64)
        if k >= 2:
            c = {p: max(float(v[u]), eps) for p, v in vals.items()}
            denom = sum(c.values()) + (n_paths - k) * eps
            for q in range(n_paths):
                pi[q] = (k / n_paths) * c[q] / denom if q in c else (1 - k / n_paths) / (n_paths - k)
            pi = pi / pi.sum()
        out += ((1 - f) * pi + f / n_paths) / n_theta
    return out


@pytest.mark.parametrize(("known", "f"), [(range(7), 0.0), (range(7), 0.3), ([0, 2, 5], 0.0), ([4], 0.1)])
def test_probs_from_vals_equal_reference_formula(known, f: float) -> None:
    gen = torch.Generator().manual_seed(0)
    vals = {p: torch.rand(2, generator=gen) * 10 ** torch.randint(-3, 3, (1,), generator=gen) for p in known}
    res = probs_from_vals(vals, 7, 2, min_prob_frac=f)
    torch.testing.assert_close(res.probs, _expected_probs(vals, 7, f), rtol=1e-9, atol=1e-12)
    assert res.log_vals.shape == res.log_probs.shape == (2, 7)


@pytest.mark.skipif(reference_root() is None, reason="scrapl-loss (test extra) not installed")
def test_probs_from_vals_equal_scrapl_loss_updates() -> None:
    """scrapl-loss 0.1.0 itself fails its own per-θ check whenever min_prob_frac > 0 (the per-θ
    probabilities it checks sum to 1 - f), so only f = 0 can be compared with it."""
    gen = torch.Generator().manual_seed(1)
    specs = [(range(7), 2), ([1, 2, 6], 2), ([0, 3, 4, 5, 6], 1)]
    cases = [({p: torch.rand(n, generator=gen) + 0.01 for p in known}, n) for known, n in specs]
    code = """
    for i, (vals, n_theta) in enumerate(inputs["cases"]):
        loss = SCRAPLLoss(shape=256, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1, n_theta=n_theta)
        for p, v in sorted(vals.items()):
            loss._aggregate_vals_and_update_probs(v.unsqueeze(0), p, agg="none")
        outputs[i] = (loss.probs, loss.all_log_probs)
    """
    ref = run_reference(code, {"cases": cases}, threads=1)
    for i, (vals, n_theta) in enumerate(cases):
        ours = probs_from_vals(vals, 7, n_theta)
        torch.testing.assert_close(ours.probs, ref[i][0], rtol=1e-9, atol=1e-12)
        torch.testing.assert_close(ours.log_probs, ref[i][1], rtol=1e-9, atol=1e-9)


def test_warmup_writes_files_resumes_and_merges(tmp_path: Path) -> None:
    enc, synth, loss_fn, kws = build_toy(seed=4)
    params = list(enc.parameters())
    res = warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, save_dir=str(tmp_path), n_iter=30)
    assert sorted(res.vals) == list(range(N_PATHS))
    for p in range(N_PATHS):
        saved = torch.load(tmp_path / f"vals_{p}.pt", weights_only=True)
        assert saved.shape == (1, U) and saved.dtype == torch.float32 and bool((saved >= 0).all())
    probs = torch.load(tmp_path / "probs.pt", weights_only=True)
    torch.testing.assert_close(probs, res.probs.probs)
    expected = _expected_probs({p: aggregate_vals(v, "none") for p, v in res.vals.items()}, N_PATHS, 0.0)
    torch.testing.assert_close(probs, expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(load_probs_from_warmup_dir(str(tmp_path), N_PATHS, U).probs, probs)

    def failing_loss(*_args) -> torch.Tensor:
        raise AssertionError("existing vals files must be reused, not recomputed")

    again = warmup_lc_hvp(failing_loss, N_PATHS, enc, synth, kws, params, save_dir=str(tmp_path), n_iter=30)
    torch.testing.assert_close(again.probs.probs, probs)
    # two disjoint partial runs merged from the directory give the same distribution
    split = tmp_path / "split"
    for start, end in ((0, 2), (2, N_PATHS)):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, start_path_idx=start, end_path_idx=end,
                      save_dir=str(split), n_iter=30)
    assert not (split / "probs.pt").exists()
    torch.testing.assert_close(load_probs_from_warmup_dir(str(split), N_PATHS, U).probs, probs)


_DIST_SCRIPT = """
import sys
sys.path.insert(0, {repo!r})
import torch, torch.distributed as dist
from tests.loss.test_warmup import build_toy, N_PATHS
from scrapl_live.loss.warmup import warmup_lc_hvp
torch.set_num_threads(1)
dist.init_process_group("gloo")
enc, synth, loss_fn, kws = build_toy(seed=5)
params = list(enc.parameters())
res = warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, save_dir=sys.argv[1], n_iter=30)
torch.save(res.probs.probs, sys.argv[1] + f"/returned_{{dist.get_rank()}}.pt")
dist.barrier()
dist.destroy_process_group()
"""


@pytest.mark.slow
def test_two_process_torchrun_gives_same_probs(tmp_path: Path) -> None:
    enc, synth, loss_fn, kws = build_toy(seed=5)
    single = tmp_path / "single"
    warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, list(enc.parameters()), save_dir=str(single), n_iter=30)
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(_DIST_SCRIPT.format(repo=str(REPO))))
    sharded = tmp_path / "sharded"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           str(script), str(sharded)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    expected = torch.load(single / "probs.pt", weights_only=True)
    torch.testing.assert_close(torch.load(sharded / "probs.pt", weights_only=True), expected, rtol=0, atol=0)
    for rank in (0, 1):
        torch.testing.assert_close(torch.load(sharded / f"returned_{rank}.pt", weights_only=True), expected)


def test_bad_arguments_raise_value_error(tmp_path: Path) -> None:
    enc, synth, loss_fn, kws = build_toy()
    params = list(enc.parameters())
    with pytest.raises(ValueError, match="theta_fn_kwargs"):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, [{"y": 1}], params, save_dir=None)
    with pytest.raises(ValueError, match="synth_fn_kwargs"):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, synth_fn_kwargs=[{}, {}], save_dir=None)
    with pytest.raises(ValueError, match="agg"):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, agg="sum", save_dir=None)
    with pytest.raises(ValueError, match="path range"):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, params, start_path_idx=3, end_path_idx=9,
                      save_dir=None)
    with pytest.raises(ValueError, match="params"):
        warmup_lc_hvp(loss_fn, N_PATHS, enc, synth, kws, [], save_dir=None)
    with pytest.raises(FileNotFoundError, match="warmup_dir"):
        load_probs_from_warmup_dir(str(tmp_path / "missing"), N_PATHS, U)
    with pytest.raises(ValueError, match="vals"):
        probs_from_vals({0: torch.tensor([float("nan")])}, N_PATHS, 1)
    with pytest.raises(ValueError, match="agg"):
        aggregate_vals(torch.ones(2, U), "none")
