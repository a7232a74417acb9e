"""SCRAPLLoss step time and memory: scrapl-live vs scrapl-loss 0.1.0, measured in the same run.

Each measurement runs in a fresh process (ours: a subprocess; the reference: ``tests/reference.py``'s
child process), ``--threads`` each (default 2), so its peak RSS (ru_maxrss) is its own.  The SAME timing
script runs in both: forward + backward of ``loss(x, x_target, path_idx=p)`` for a fixed, seeded sequence
of paths, median over ``--steps`` (granular) / ``--steps-808`` steps after 2 warm-up steps, P-Adam/P-SAGA
off and no params attached (as the paper's Table 5).  Also measured (ours only): the floor — a
first-order scalogram forward+backward of just the bands each path needs — and k = 4 paths per step;
and, with attached params (~330k weights, P = 315), the per-step cost of the P-Adam + P-SAGA gradient
hooks through ``SCRAPLLoss.grad_hook``.

    python benchmarks/bench_loss.py            # granular B=4, 808 B=8, hooks
    python benchmarks/bench_loss.py --quick    # granular only, 10 steps
    python benchmarks/bench_loss.py --full-jtfs  # + full-JTFS loss at the granular config (ref ~14 GB)
    python benchmarks/bench_loss.py --tuned-malloc  # both keep freed memory in the heap (as our CLI does)

θ-IS warm-up timings: ``benchmarks/bench_pathwise.py``; JTFS-level timings: ``benchmarks/bench_jtfs.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scrapl_live.allocator import malloc_env  # noqa: E402
from tests.reference import run_reference  # noqa: E402

GRANULAR = dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)
TR808 = dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1, use_rho_log1p=True, grad_mult=1.0)
SHAPES = [(512, 512), (512,), (256, 256), (256,), (64, 256), (64,)]  # 328,512 weights in 6 tensors

_COMMON = """
import resource, statistics, time, torch
torch.manual_seed(0)
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def median_time(fn, args):
    fn(args[0]); fn(args[1])
    ts = []
    for a in args:
        t = time.perf_counter(); fn(a); ts.append(time.perf_counter() - t)
    return statistics.median(ts)
cfg, B, steps = inputs["cfg"], inputs["batch"], inputs["steps"]
loss = SCRAPLLoss(**cfg, use_p_adam=False, use_p_saga=False)
gen = torch.Generator().manual_seed(0)
paths = torch.randint(0, loss.n_paths, (steps,), generator=gen).tolist()
x0 = torch.randn(B, 1, cfg["shape"], generator=gen) / 50
xt = torch.randn(B, 1, cfg["shape"], generator=gen) / 50
"""

STEP = """
def step(p):
    x = x0.clone().requires_grad_(True)
    loss(x, xt, path_idx=p).backward()
outputs["step"] = median_time(step, paths)
outputs["rss"] = rss_mb()
"""

OURS_EXTRA = """
jtfs = loss.jtfs
def floor(p):
    x = x0.reshape(B, -1).clone().requires_grad_(True)
    s = jtfs.scalogram(x, jtfs.n1_max([p]))
    sum(u.abs().sum() for _, u in s.groups).backward()
outputs["floor"] = median_time(floor, paths[:inputs["extra_steps"]])
if inputs["k4"]:
    k_loss = SCRAPLLoss(**cfg, use_p_adam=False, use_p_saga=False, paths_per_step=4)
    groups = [paths[i:] + paths[:i] for i in range(0, 4)]
    def step_k(i):
        x = x0.clone().requires_grad_(True)
        k_loss(x, xt, path_idx=[g[i] for g in groups]).backward()
    outputs["step_k4"] = median_time(step_k, list(range(inputs["extra_steps"])))
"""

HOOKS = """
import time, statistics
params = [torch.nn.Parameter(torch.zeros(s)) for s in inputs["shapes"]]
loss = SCRAPLLoss(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)
loss.attach_params(params)
gen = torch.Generator().manual_seed(0)
times = []
for k in range(inputs["steps"]):
    p = int(torch.randint(0, loss.n_paths, (1,), generator=gen))
    loss.path_counts[p] += 1
    loss.scrapl_t += 1
    if hasattr(loss, "_set_pathwise_paths"):
        loss.curr_path_indices = [p]
        loss._set_pathwise_paths([p])
    loss.curr_path_idx = p
    grads = [torch.randn(s, generator=gen) * 1e-8 for s in inputs["shapes"]]
    t0 = time.perf_counter()
    for i, g in enumerate(grads):
        loss.grad_hook(g, i)
    times.append(time.perf_counter() - t0)
outputs["hook"] = statistics.median(times[2:])
outputs["rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

FULL = """
def step(_):
    x = x0.clone().requires_grad_(True)
    with torch.no_grad():
        sy = loss.jtfs(xt.reshape(B, -1))
    torch.linalg.vector_norm(sy - loss.jtfs(x.reshape(B, -1)), dim=(-2, -1)).mean().backward()
t = time.perf_counter(); step(0); outputs["full"] = time.perf_counter() - t
outputs["rss"] = rss_mb()
"""

REF_FULL = """
j = loss.jtfs
def step(_):
    x = x0.clone().requires_grad_(True)
    sx, sy = j.scattering(x.reshape(B, -1)), j.scattering(xt.reshape(B, -1))
    torch.linalg.vector_norm(sy - sx, dim=(-2, -1)).mean().backward()
t = time.perf_counter(); step(0); outputs["full"] = time.perf_counter() - t
outputs["rss"] = rss_mb()
"""


THREADS = 2


def run_ours(code: str, inputs: dict) -> dict:
    """Run ``code`` with our SCRAPLLoss, ``torch`` and ``inputs`` in scope in a fresh interpreter."""
    script = (
        f"import json, torch\ntorch.set_num_threads({THREADS})\nfrom scrapl_live.loss import SCRAPLLoss\n"
        f"inputs = json.loads({json.dumps(json.dumps(inputs))})\noutputs = {{}}\n"
        + textwrap.dedent(code) + "\nprint(json.dumps(outputs))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"benchmark child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    global THREADS
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=30, help="timed steps, granular config (default 30)")
    ap.add_argument("--steps-808", type=int, default=30, help="timed steps, 808 config (default 30)")
    ap.add_argument("--extra-steps", type=int, default=10, help="timed steps for floor and k=4 (default 10)")
    ap.add_argument("--quick", action="store_true", help="granular config only, 10 steps, no hooks")
    ap.add_argument("--full-jtfs", action="store_true", help="add the full-JTFS loss (ref ~14 GB)")
    ap.add_argument("--no-hooks", action="store_true", help="skip the P-Adam/P-SAGA hook measurement")
    ap.add_argument("--tuned-malloc", action="store_true",
                    help="both children keep freed memory in the heap (scrapl_live.allocator's settings, "
                    "as the scrapl-live CLI runs); default: glibc's defaults for both")
    ap.add_argument("--threads", type=int, default=THREADS, help="torch threads of each child (default 2)")
    args = ap.parse_args()
    THREADS = args.threads
    if args.tuned_malloc:
        os.environ.update(malloc_env())  # inherited by our child and the reference's alike
    steps = 10 if args.quick else args.steps
    cmd = "python benchmarks/bench_loss.py" + (" --quick" if args.quick else "")
    cmd += " --tuned-malloc" if args.tuned_malloc else ""
    cmd += f" --threads {THREADS}" if THREADS != 2 else ""
    rows = []
    configs = [("granular", GRANULAR, 4, steps)] + ([] if args.quick else [("808", TR808, 8, args.steps_808)])
    for name, cfg, batch, n_steps in configs:
        k4 = name == "granular"
        inputs = {"cfg": cfg, "batch": batch, "steps": n_steps, "extra_steps": min(args.extra_steps, n_steps),
                  "k4": k4}
        ours = run_ours(_COMMON + STEP + OURS_EXTRA, inputs)
        ref = run_reference(_COMMON + STEP, inputs, threads=THREADS, timeout=3600)
        tag = f"{name} (P={'315' if name == 'granular' else '483'}), B={batch}"
        rows += [
            (f"fwd+bwd step, {tag}, median of {n_steps}", f"{ours['step'] * 1e3:.0f} ms",
             f"{ref['step'] * 1e3:.0f} ms", f"{ref['step'] / ours['step']:.2f}× faster"),
            (f"peak RSS of that process, {tag}", f"{ours['rss']:.0f} MB", f"{ref['rss']:.0f} MB",
             f"{ours['rss'] / ref['rss']:.2f}×"),
            (f"floor: first-order scalogram fwd+bwd of the needed bands, {tag}",
             f"{ours['floor'] * 1e3:.0f} ms", "–", f"step = {ours['step'] / ours['floor']:.2f}× floor"),
        ]
        if k4:
            k_ms, ref_ms = ours["step_k4"] * 1e3, ref["step"] * 1e3
            rows.append((f"k=4 paths per step (shared scalogram), {tag}", f"{k_ms:.0f} ms",
                         f"4 × {ref_ms:.0f} ms", f"{4 * ref_ms / k_ms:.2f}× faster"))
    if not (args.quick or args.no_hooks):
        inputs = {"shapes": SHAPES, "steps": max(steps, 20)}
        ours = run_ours(_COMMON.split("cfg, B")[0] + HOOKS, inputs)
        ref = run_reference(_COMMON.split("cfg, B")[0] + HOOKS, inputs, threads=THREADS)
        rows += [
            ("P-Adam+P-SAGA grad hooks per step, 328,512 weights, P=315", f"{ours['hook'] * 1e3:.2f} ms",
             f"{ref['hook'] * 1e3:.2f} ms", f"{ref['hook'] / ours['hook']:.1f}× faster"),
            ("peak RSS with those params attached", f"{ours['rss']:.0f} MB", f"{ref['rss']:.0f} MB",
             f"{ours['rss'] / ref['rss']:.2f}×"),
        ]
    if args.full_jtfs:
        inputs = {"cfg": GRANULAR, "batch": 4, "steps": 2, "extra_steps": 0, "k4": False}
        ours = run_ours(_COMMON + FULL, inputs)
        ref = run_reference(_COMMON + REF_FULL, inputs, threads=THREADS, timeout=3600)
        rows += [
            ("full-JTFS loss fwd+bwd, granular, B=4 (one step)", f"{ours['full']:.1f} s",
             f"{ref['full']:.1f} s", f"{ref['full'] / ours['full']:.2f}× faster"),
            ("peak RSS of that process", f"{ours['rss']:.0f} MB", f"{ref['rss']:.0f} MB",
             f"{ours['rss'] / ref['rss']:.2f}×"),
        ]
    print("| what | ours | scrapl-loss | ratio | command |")
    print("|---|---|---|---|---|")
    for what, o, r, ratio in rows:
        print(f"| {what} | {o} | {r} | {ratio} | `{cmd}{' --full-jtfs' if 'full-JTFS' in what else ''}` |")


if __name__ == "__main__":
    main()
