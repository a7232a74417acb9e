"""Benchmark: encoder inference latency, onnxruntime (single thread) vs torch eager, plus sizes.

For each shipped preset (tr808 at W = 2048/1024/512 samples, granular at W = 32768) and size (live,
paper): builds a randomly initialised encoder, exports it with ``export_onnx`` to a temp folder and
times single-example inference (batch 1) after a warm-up, interleaving onnxruntime and torch runs so
both see the same machine load.  Prints a markdown table (wall-clock p50/p99 and calling-thread CPU-time
p99 in ms, torch/onnxruntime ratio, weights, ONNX bytes) and whether tr808-live meets p99 ≤ 2 ms.

Then the multi-window tr808 live encoder (one graph, any length 128–8192 samples, progressive
prediction): onnxruntime p50/p99 at every window of the schedule, interleaved with the single-window
W = 2048 encoder (the architecture shipped before) in the same run, the ratio of their p50s, and the
verdict against p99 ≤ 1 ms at W₀ = 256 and ≤ 2 ms at every window.

    python benchmarks/bench_encoder.py [--runs 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.timing import timed  # noqa: E402
from scrapl_live.encoder import Encoder, OnnxEncoder, encoder_config, export_onnx  # noqa: E402

CASES = [
    ("tr808", "live", 2048),
    ("tr808", "live", 1024),
    ("tr808", "live", 512),
    ("tr808", "paper", 2048),
    ("granular", "live", None),
    ("granular", "paper", None),
]
P99_BUDGET_MS = 2.0
MULTI_WINDOWS = (128, 256, 512, 1024, 2048, 4096, 8192)
W0, W0_BUDGET_MS = 256, 1.0


def bench_case(synth: str, size: str, window: int | None, runs: int, threads: int, tmp: Path) -> dict:
    """Export one encoder and time it; returns the table row as a dict."""
    torch.manual_seed(0)
    enc = Encoder(encoder_config(synth, size, window)).eval()
    path = tmp / f"{synth}-{size}-{enc.config.window}.onnx"
    card = export_onnx(enc, path)
    runtime = OnnxEncoder(path, threads=threads)
    x_np = np.random.default_rng(0).standard_normal(enc.config.window).astype(np.float32)
    x_t = torch.from_numpy(x_np)[None]

    def torch_call(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return enc(x)

    for _ in range(20):
        runtime(x_np)
        torch_call(x_t)
    ort_runs, torch_runs = [], []
    for _ in range(10):  # interleave in chunks so both see the same load
        ort_runs.append(timed(lambda: runtime(x_np), runs // 10))
        torch_runs.append(timed(lambda: torch_call(x_t), runs // 10))
    ort_wall, ort_cpu = (np.concatenate(a) for a in zip(*ort_runs, strict=True))
    torch_wall, torch_cpu = (np.concatenate(a) for a in zip(*torch_runs, strict=True))
    pct = lambda a, q: float(np.percentile(a, q))  # noqa: E731
    return dict(
        case=f"{synth} {size} W={enc.config.window}",
        weights=enc.n_weights,
        bytes=card["onnx"]["bytes"],
        ort_p50=pct(ort_wall, 50),
        ort_p99=pct(ort_wall, 99),
        ort_cpu_p99=pct(ort_cpu, 99),
        torch_p50=pct(torch_wall, 50),
        torch_p99=pct(torch_wall, 99),
        torch_cpu_p99=pct(torch_cpu, 99),
    )


def bench_windows(runs: int, threads: int, tmp: Path) -> list[dict]:
    """Time the multi-window encoder at each window against the single-window W = 2048 one (onnxruntime)."""
    torch.manual_seed(0)
    multi = Encoder(encoder_config("tr808", "live", windows=MULTI_WINDOWS)).eval()
    export_onnx(multi, tmp / "tr808-multi.onnx")
    torch.manual_seed(0)
    export_onnx(Encoder(encoder_config("tr808", "live", 2048)).eval(), tmp / "tr808-single-2048.onnx")
    base = OnnxEncoder(tmp / "tr808-single-2048.onnx", threads=threads)
    runtime = OnnxEncoder(tmp / "tr808-multi.onnx", threads=threads)
    x_base = np.random.default_rng(0).standard_normal(base.window).astype(np.float32)
    rows = []
    for w in MULTI_WINDOWS:
        x = np.random.default_rng(w).standard_normal(w).astype(np.float32)
        for _ in range(20):
            runtime(x)
            base(x_base)
        multi_runs, base_runs = [], []
        for _ in range(10):
            multi_runs.append(timed(lambda x=x: runtime(x), runs // 10))
            base_runs.append(timed(lambda: base(x_base), runs // 10))
        m_wall, m_cpu = (np.concatenate(a) for a in zip(*multi_runs, strict=True))
        b_wall = np.concatenate([r[0] for r in base_runs])
        rows.append(dict(window=w, p50=float(np.percentile(m_wall, 50)), p99=float(np.percentile(m_wall, 99)),
                         cpu_p99=float(np.percentile(m_cpu, 99)), base_p50=float(np.percentile(b_wall, 50))))
        print(f"done multi-window W={w}", file=sys.stderr)
    return rows


def print_cases(rows: list[dict], runs: int, threads: int) -> None:
    """The per-preset table and the tr808-live W=2048 verdict."""
    print(f"\nencoder inference, batch 1, {threads} thread(s), {runs} runs each\n")
    print(
        "| case | weights | ONNX kB | onnxruntime p50 / p99 / CPU-p99 ms | torch p50 / p99 / CPU-p99 ms "
        "| torch/ort (p50) |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['weights']:,} | {r['bytes'] / 1e3:.0f} "
            f"| {r['ort_p50']:.3f} / {r['ort_p99']:.3f} / {r['ort_cpu_p99']:.3f} "
            f"| {r['torch_p50']:.3f} / {r['torch_p99']:.3f} / {r['torch_cpu_p99']:.3f} "
            f"| {r['torch_p50'] / r['ort_p50']:.1f}× |"
        )
    live = next(r for r in rows if r["case"] == "tr808 live W=2048")
    for label, value in (("wall-clock", live["ort_p99"]), ("thread CPU-time", live["ort_cpu_p99"])):
        verdict = "meets" if value <= P99_BUDGET_MS else "MISSES"
        print(
            f"tr808 live W=2048: onnxruntime {label} p99 {value:.3f} ms {verdict} "
            f"the {P99_BUDGET_MS} ms budget"
        )


def print_windows(rows: list[dict], runs: int, threads: int) -> None:
    """The multi-window table: per window p50/p99, the W=2048 single-window p50 and the budgets."""
    lo, hi = MULTI_WINDOWS[0], MULTI_WINDOWS[-1]
    print(f"\nmulti-window tr808 live encoder (one ONNX graph, any length {lo}–{hi}), onnxruntime, batch 1, "
          f"{threads} thread(s), {runs} runs; baseline: single-window W=2048 encoder\n")
    print("| window | ms | p50 / p99 / CPU-p99 ms | W=2048 single p50 ms | ratio (p50) "
          "| p99 budget: wall, CPU |")
    print("|---|---|---|---|---|---|")
    verdict = lambda value, budget: "meets" if value <= budget else "MISSES"  # noqa: E731
    for r in rows:
        budget = W0_BUDGET_MS if r["window"] == W0 else P99_BUDGET_MS
        print(f"| {r['window']} | {1e3 * r['window'] / 44100:.1f} | {r['p50']:.3f} / {r['p99']:.3f} / "
              f"{r['cpu_p99']:.3f} | {r['base_p50']:.3f} | {r['p50'] / r['base_p50']:.2f}× "
              f"| ≤ {budget} ms: {verdict(r['p99'], budget)}, {verdict(r['cpu_p99'], budget)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="timed calls per runtime and case")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op and torch threads")
    ap.add_argument("--windows-only", action="store_true", help="only the multi-window table")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for synth, size, window in [] if args.windows_only else CASES:
            rows.append(bench_case(synth, size, window, args.runs, args.threads, Path(tmp)))
            print(f"done {rows[-1]['case']}", file=sys.stderr)
        multi = bench_windows(args.runs, args.threads, Path(tmp))
    if rows:
        print_cases(rows, args.runs, args.threads)
    print_windows(multi, args.runs, args.threads)
    print(f"(load average during the run: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs)")


if __name__ == "__main__":
    main()
