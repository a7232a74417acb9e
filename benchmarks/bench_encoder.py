"""Benchmark: encoder inference latency, onnxruntime (single thread) vs torch eager, plus sizes.

For each shipped preset (tr808 at W = 2048/1024/512 samples, granular at W = 32768) and size (live,
paper): builds a randomly initialised encoder, exports it with ``export_onnx`` to a temp folder and
times single-example inference (batch 1) after a warm-up, interleaving onnxruntime and torch runs so
both see the same machine load.  Prints a markdown table (p50/p99 in ms, torch/onnxruntime ratio,
weights, ONNX bytes) and whether tr808-live meets p99 ≤ 2 ms.

    python benchmarks/bench_encoder.py [--runs 1000] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

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


def _time(fn, x, runs: int) -> np.ndarray:
    """Per-call wall times in ms, shape (runs,)."""
    out = np.empty(runs)
    for i in range(runs):
        t0 = time.perf_counter()
        fn(x)
        out[i] = (time.perf_counter() - t0) * 1e3
    return out


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
    ort_ms, torch_ms = [], []
    for _ in range(10):  # interleave in chunks so both see the same load
        ort_ms.append(_time(runtime, x_np, runs // 10))
        torch_ms.append(_time(torch_call, x_t, runs // 10))
    ort_ms, torch_ms = np.concatenate(ort_ms), np.concatenate(torch_ms)
    return dict(
        case=f"{synth} {size} W={enc.config.window}",
        weights=enc.n_weights,
        bytes=card["onnx"]["bytes"],
        ort_p50=np.percentile(ort_ms, 50),
        ort_p99=np.percentile(ort_ms, 99),
        torch_p50=np.percentile(torch_ms, 50),
        torch_p99=np.percentile(torch_ms, 99),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1000, help="timed calls per runtime and case")
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op and torch threads")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for synth, size, window in CASES:
            rows.append(bench_case(synth, size, window, args.runs, args.threads, Path(tmp)))
            print(f"done {rows[-1]['case']}", file=sys.stderr)
    print(f"\nencoder inference, batch 1, {args.threads} thread(s), {args.runs} runs each\n")
    print("| case | weights | ONNX kB | onnxruntime p50 / p99 ms | torch p50 / p99 ms | torch/ort (p50) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['weights']:,} | {r['bytes'] / 1e3:.0f} | {r['ort_p50']:.3f} / {r['ort_p99']:.3f} "
            f"| {r['torch_p50']:.3f} / {r['torch_p99']:.3f} | {r['torch_p50'] / r['ort_p50']:.1f}× |"
        )
    live = next(r for r in rows if r["case"] == "tr808 live W=2048")
    verdict = "meets" if live["ort_p99"] <= P99_BUDGET_MS else "MISSES"
    print(
        f"\ntr808 live W=2048: onnxruntime p99 {live['ort_p99']:.3f} ms {verdict} the {P99_BUDGET_MS} ms budget"
    )


if __name__ == "__main__":
    main()
