"""Benchmark: θ-IS warm-up and P-Adam/P-SAGA step overhead, scrapl-live vs scrapl-loss 0.1.0.

Prints a markdown table with ratios measured in the same run (reference in a child process via
``tests/reference.py::run_reference``, 2 threads each; runs are interleaved and the best of
``--repeats`` is kept, which damps noise from a shared machine).  Also measures the error of
reduced-precision (bfloat16/float16) path tables against float32 over a sequence of steps.

    python benchmarks/bench_pathwise.py [--threads 2] [--repeats 1] [--steps 30] [--warmup-paths 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrapl_live.loss.pathwise import PathwiseGradTransform  # noqa: E402
from tests.reference import run_reference  # noqa: E402

THREADS = 2
# Toy sound-matching problem, executed verbatim in both processes: an MLP encoder on the raw signal,
# a differentiable AM sine synth, one batch of 4 signals; JTFS config with J=8 on 4096 samples.
TOY = """
import torch
JTFS_CFG = dict(shape=4096, J=8, Q1=4, Q2=1, J_fr=2, Q_fr=1)
torch.manual_seed(0)
layers = [torch.nn.Flatten(), torch.nn.Linear(4096, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)]
enc = torch.nn.Sequential(*layers, torch.nn.Sigmoid()).eval()
params = list(enc.parameters())
_n = torch.arange(4096) / 4096
def theta_fn(x):
    return enc(x)
def synth_fn(theta):
    f0 = 200 + 1200 * theta[:, :1]
    am = 1 + 8 * theta[:, 1:]
    return (torch.sin(2 * torch.pi * f0 * _n) * torch.sin(torch.pi * am * _n)).unsqueeze(1)
x = synth_fn(torch.rand(4, 2)) + 0.01 * torch.randn(4, 1, 4096)
theta_fn_kwargs = [{"x": x}]
"""

REF_WARMUP = """
import time, tempfile
exec(inputs["toy"])
loss = SCRAPLLoss(**JTFS_CFG, n_theta=2, use_p_adam=False, use_p_saga=False)
best = float("inf")
for _ in range(inputs["repeats"]):
    d = tempfile.mkdtemp()
    t0 = time.perf_counter()
    loss.warmup_lc_hvp(theta_fn, synth_fn, theta_fn_kwargs, params, end_path_idx=inputs["n"], save_dir=d,
                       n_iter=20)
    best = min(best, time.perf_counter() - t0)
    loss.clear()
outputs["time"] = best
outputs["vals"] = torch.stack([torch.load(f"{d}/vals_{p}.pt") for p in range(inputs["n"])])
outputs["n_paths"] = loss.n_paths
"""

REF_HOOK = """
import time
params = [torch.nn.Parameter(torch.zeros(s)) for s in inputs["shapes"]]
loss = SCRAPLLoss(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)
loss.train()
loss.attach_params(params)
gen = torch.Generator().manual_seed(0)
times = []
for k in range(inputs["steps"]):
    p = int(torch.randint(0, loss.n_paths, (1,), generator=gen))
    loss.curr_path_idx = p
    loss.path_counts[p] += 1
    loss.scrapl_t += 1
    grads = [torch.randn(s, generator=gen) * 1e-8 for s in inputs["shapes"]]
    t0 = time.perf_counter()
    for i, g in enumerate(grads):
        loss.grad_hook(g, i)
    times.append(time.perf_counter() - t0)
outputs["times"] = times
outputs["n_paths"] = loss.n_paths
"""

# ~330k weights in 6 tensors (two 512x512/256x256-sized layers and a head)
SHAPES = [(512, 512), (512,), (256, 256), (256,), (64, 256), (64,)]


def bench_warmup(repeats: int, n_paths: int) -> tuple[float, float, float]:
    """(ours s, reference s, median relative |λ| difference) for the first ``n_paths`` paths."""
    from scrapl_live.loss import SCRAPLLoss
    from scrapl_live.loss.warmup import warmup_lc_hvp

    scope: dict = {}
    exec(TOY, scope)  # noqa: S102 - the shared toy definition above
    loss = SCRAPLLoss(**scope["JTFS_CFG"], n_theta=2, use_p_adam=False, use_p_saga=False).eval()

    def loss_fn(x: torch.Tensor, x_hat: torch.Tensor, p: int) -> torch.Tensor:
        return loss(x, x_hat, path_idx=p)

    ours, ref_t, vals = float("inf"), float("inf"), None
    ref_vals = None
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = warmup_lc_hvp(loss_fn, loss.n_paths, scope["theta_fn"], scope["synth_fn"],
                                scope["theta_fn_kwargs"], scope["params"], end_path_idx=n_paths, save_dir=d)
            ours = min(ours, time.perf_counter() - t0)
            vals = torch.stack([res.vals[p] for p in range(n_paths)])
        out = run_reference(REF_WARMUP, {"toy": TOY, "repeats": 1, "n": n_paths}, threads=THREADS)
        ref_t, ref_vals = min(ref_t, out["time"]), out["vals"]
    rel = ((vals - ref_vals).abs() / ref_vals.abs().clamp(min=1e-30)).flatten()
    return ours, ref_t, float(rel.median())


def bench_step(steps: int, repeats: int) -> tuple[float, float, int, int]:
    """(ours ms/step, reference ms/step, n_weights, table MB) with P-Adam + P-SAGA, P = 315."""
    n_paths = 315
    params = [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]
    ours_best, ref_best = float("inf"), float("inf")
    table_mb = 0
    for _ in range(repeats):
        tr = PathwiseGradTransform(params, n_paths, grad_mult=1e8)
        table_mb = tr.table_bytes() // 2**20
        gen = torch.Generator().manual_seed(0)
        times = []
        for k in range(steps):
            for p in params:
                p.grad = torch.randn(p.shape, generator=gen) * 1e-8
            path = int(torch.randint(0, n_paths, (1,), generator=gen))
            t0 = time.perf_counter()
            tr.transform(path, k + 1)
            times.append(time.perf_counter() - t0)
        ours_best = min(ours_best, statistics.median(times[2:]) * 1e3)
        del tr
        out = run_reference(REF_HOOK, {"shapes": SHAPES, "steps": steps}, threads=THREADS)
        assert out["n_paths"] == n_paths
        ref_best = min(ref_best, statistics.median(out["times"][2:]) * 1e3)
    return ours_best, ref_best, sum(p.numel() for p in params), table_mb


def bench_precision(steps: int = 300, n_paths: int = 31) -> dict[str, tuple[float, float]]:
    """Relative L2 error of the transformed gradient vs float32 tables: (median, max) over steps."""
    gen = torch.Generator().manual_seed(1)
    shapes = [(128, 64), (64,)]
    seq = [(int(torch.randint(0, n_paths, (1,), generator=gen)),
            [torch.randn(s, generator=gen) * 1e-6 * (1 + 9 * torch.rand(1, generator=gen)) for s in shapes])
           for _ in range(steps)]
    outs = {}
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        params = [torch.nn.Parameter(torch.zeros(s)) for s in shapes]
        tr = PathwiseGradTransform(params, n_paths, grad_mult=1e8, table_dtype=dtype)
        res = []
        for k, (path, grads) in enumerate(seq):
            for p, g in zip(params, grads, strict=True):
                p.grad = g.clone()
            tr.transform(path, k + 1)
            res.append(torch.cat([p.grad.flatten() for p in params]))
        outs[dtype] = torch.stack(res)
    errs = {}
    for dtype in (torch.bfloat16, torch.float16):
        rel = (outs[dtype] - outs[torch.float32]).norm(dim=1) / outs[torch.float32].norm(dim=1)
        errs[str(dtype).removeprefix("torch.")] = (float(rel.median()), float(rel.max()))
    return errs


def main() -> None:
    global THREADS
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=THREADS)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup-paths", type=int, default=3)
    args = ap.parse_args()
    THREADS = args.threads
    torch.set_num_threads(THREADS)
    ours_w, ref_w, rel = bench_warmup(args.repeats, args.warmup_paths)
    ours_s, ref_s, n_w, mb = bench_step(args.steps, args.repeats)
    errs = bench_precision()
    head = f"benchmark ({THREADS} threads, best of {args.repeats})"
    print(f"| {head} | scrapl-live | scrapl-loss 0.1.0 | ratio |")
    print("|---|---|---|---|")
    print(f"| θ-IS warm-up, {args.warmup_paths} paths, toy J=8/N=4096, U=2, B=4, n_iter 20 | {ours_w:.2f} s "
          f"| {ref_w:.2f} s | {ref_w / ours_w:.1f}× faster (median rel. diff of the eigenvalues {rel:.1e}) |")
    print(f"| P-Adam+P-SAGA per step, {n_w} weights, P=315 | {ours_s:.2f} ms | {ref_s:.2f} ms "
          f"| {ref_s / ours_s:.1f}× faster ({mb} MB tables, ref 3 tables always) |")
    for name, (med, worst) in errs.items():
        print(f"| {name} path tables vs float32, rel. L2 error of the output over 300 steps | "
              f"median {med:.1e}, max {worst:.1e} | – | ½ the table memory |")


if __name__ == "__main__":
    main()
