"""Placement benchmark: where file mode puts each voice against the true onsets of real one-shots.

    python benchmarks/bench_placement.py [--hits 300] [--model models/tr808.onnx] [--seed 0]

Real drum one-shots (the Hydrogen kits' test split, ``scrapl-live data hydrogen``) are placed at known
times (gaps 60 ms to 1 s, peaks -40..0 dBFS, each ringing on under the next) over -60 dBFS noise and
resynthesised by the engine in file mode (``lookahead=True``, as ``scrapl-live resynth``), which starts
every voice exactly at its hit's reported onset (``tests/live/test_engine.py`` checks it sample by
sample).  Printed: hits found against the truth (precision, recall, F1 within ±10 ms) and |voice onset
- true onset| of the matched hits (median, p95, max in ms; targets 0.5 and 2 ms), overall and per level
band.  The peer is the same sequence's true onsets.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrapl_live.live.engine import Engine  # noqa: E402
from scrapl_live.live.offline import run_signal  # noqa: E402
from tests.live.signals import HYDROGEN, load_shots, mix_shots, shot_events  # noqa: E402

SR = 44100


class _Onsets:
    """Sink: every hit's onset (where its voice starts in file mode)."""

    def __init__(self) -> None:
        self.t: list[int] = []

    def on_hit(self, event) -> None:  # noqa: ANN001 - HitEvent
        self.t.append(event.t_samples)

    def on_refine(self, event) -> None:  # noqa: ANN001 - HitEvent
        pass


def match(found: np.ndarray, truth: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one greedy matching within ±tol: (index into truth, signed error found - truth) per match."""
    used = np.zeros(found.size, bool)
    idx, err = [], []
    for i, t in enumerate(truth):
        d = np.abs(found - t).astype(np.float64)
        d[used] = np.inf
        if d.size and d.min() <= tol:
            j = int(d.argmin())
            used[j] = True
            idx.append(i)
            err.append(int(found[j] - t))
    return np.array(idx, int), np.array(err, int)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--hits", type=int, default=300, help="one-shots in the sequence (default: 300)")
    ap.add_argument("--model", default=str(ROOT / "models" / "tr808.onnx"), help="encoder (default: shipped)")
    ap.add_argument("--seed", type=int, default=0, help="sequence seed (default: 0)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if not (HYDROGEN / "manifest.json").is_file():
        sys.exit(f"error: no Hydrogen kits at {HYDROGEN}; run `scrapl-live data hydrogen` first")
    shots = [x for _, x in load_shots(HYDROGEN, SR, split="test")]
    events = shot_events(shots, SR, args.hits, args.seed, levels_db=(-40.0, 0.0), gap_s=(0.06, 1.0))
    audio, truth = mix_shots(events, events[-1][0] + SR, SR, noise_db=-60.0, seed=args.seed)
    levels = np.array([lvl for _, _, lvl in events])
    sink = _Onsets()
    engine = Engine(args.model, SR, 256, sinks=[sink], lookahead=True)
    start = time.perf_counter()
    run_signal(engine, audio)
    engine.close()
    found = np.array(sink.t, int)
    idx, err = match(found, truth, int(0.010 * SR))
    p, r = idx.size / max(found.size, 1), idx.size / truth.size
    f1 = 2 * p * r / max(p + r, 1e-12)
    print(f"placement: {truth.size} real one-shots ({len(shots)} test-kit files), gaps 60 ms..1 s, "
          f"-40..0 dBFS, -60 dBFS noise, {SR} Hz, file mode; {time.perf_counter() - start:.0f} s")
    print(f"  hits found {found.size} for {truth.size}: precision {p:.3f}, recall {r:.3f}, F1 {f1:.3f} "
          "(±10 ms)")
    ms = 1e3 * np.abs(err) / SR
    print(f"  |voice onset - true onset| ms: median {np.median(ms):.3f}, p95 {np.percentile(ms, 95):.3f}, "
          f"max {ms.max():.3f} (targets: median <= 0.5, p95 <= 2); signed median "
          f"{1e3 * np.median(err) / SR:+.3f} ms")
    for lo, hi in ((-40, -20), (-20, 0)):
        band = (levels[idx] >= lo) & (levels[idx] < hi)
        n_band = int(np.count_nonzero((levels >= lo) & (levels < hi)))
        if band.any():
            print(f"  {lo:4d}..{hi:3d} dBFS: recall {band.sum() / max(n_band, 1):.3f}, median "
                  f"{np.median(ms[band]):.3f} ms, p95 {np.percentile(ms[band], 95):.3f} ms")


if __name__ == "__main__":
    main()
