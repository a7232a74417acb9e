"""Benchmark: drum-class head latency (onnxruntime, one thread) beside the tr808 encoder it runs next to.

Times, interleaved so all see the same machine load, single-hit calls of ``DrumClassifier.classify``
at the engine's live rate (48 kHz: resampling to 44.1 kHz included) on live mode's default first
window (256 samples) and on the full window (each runs its head's own session), and two peers: the
whole bank in one onnxruntime session of the file (every head per call) and the shipped tr808 encoder
on its longest window (the work the engine already does per hit).  Prints a markdown table: wall
p50 / p99 and calling-thread CPU p99 in ms, and the ratio p99 / encoder p99.

    python benchmarks/bench_classifier.py [--runs 1000] [--model models/drumclass.onnx]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.timing import call_ms  # noqa: E402
from scrapl_live.encoder.card import ort_session  # noqa: E402
from scrapl_live.encoder.runtime import OnnxEncoder  # noqa: E402
from scrapl_live.live.classify import INPUT_NAME, OUTPUT_NAME, load_classifier  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--model", type=Path, default=ROOT / "models" / "drumclass.onnx")
    p.add_argument("--encoder", type=Path, default=ROOT / "models" / "tr808.onnx")
    args = p.parse_args()
    clf = load_classifier(args.model, threads=1)
    bank = ort_session(args.model, threads=1)
    enc = OnnxEncoder(args.encoder, threads=1)
    rng = np.random.default_rng(0)
    head_in = {INPUT_NAME: (0.3 * rng.standard_normal((1, clf.window))).astype(np.float32)}
    live_in = (0.3 * rng.standard_normal(clf.window_at(48000))).astype(np.float32)
    first_in = live_in[: clf.window_at(48000, 256)]
    enc_in = (0.3 * rng.standard_normal(enc.window)).astype(np.float32)
    cases = {
        "classify() at 48 kHz, first window 256 (resample + its head)": lambda: clf.classify(first_in, 48000),
        "classify() at 48 kHz, full window (resample + its head)": lambda: clf.classify(live_in, 48000),
        f"peer: the whole bank in one session, {clf.window} samples":
            lambda: bank.run([OUTPUT_NAME], head_in),
        f"peer: tr808 encoder, W = {enc.window}": lambda: enc(enc_in),
    }
    wall = {k: np.empty(args.runs) for k in cases}
    cpu = {k: np.empty(args.runs) for k in cases}
    for fn in cases.values():  # warm-up
        for _ in range(20):
            fn()
    for i in range(args.runs):
        for k, fn in cases.items():
            wall[k][i], cpu[k][i] = call_ms(fn)
    peer = float(np.percentile(wall[list(cases)[-1]], 99))
    print(f"{args.runs} runs, batch 1, one thread; head {args.model.name} "
          f"({args.model.stat().st_size / 1e3:.0f} kB)\n")
    print("| call | wall p50 / p99 | thread-CPU p99 | p99 ÷ encoder p99 |")
    print("|---|---|---|---|")
    for k in cases:
        p50, p99 = np.percentile(wall[k], [50, 99])
        print(f"| {k} | {p50:.3f} / {p99:.3f} ms | {np.percentile(cpu[k], 99):.3f} ms | {p99 / peer:.2f} |")


if __name__ == "__main__":
    main()
