"""File mode with and without a full-hit encoder, on held-out real hits (bench_match's hits and metrics).

The held-out test-kit hits (1 s each, onset-aligned) are laid 1.2 s apart in one signal and run through
the engine in file mode (``Engine(lookahead=True)``, as ``scrapl-live resynth``) once per model; each
detected hit's θ̂ is rendered by the TR-808 synth and compared with its hit.

    python benchmarks/bench_full_hit.py models/tr808.onnx runs/_fullhit/live.onnx --per-kit 4
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_match import Metrics, held_out_hits  # noqa: E402

SR = 44100
SPACING = int(1.2 * SR)


class Hits:
    """Hit sink keeping each hit's final θ̂ by onset."""

    def __init__(self) -> None:
        self.theta: dict[int, np.ndarray] = {}

    def on_hit(self, event) -> None:  # noqa: ANN001 - HitEvent
        self.theta[event.t_samples] = event.theta

    on_refine = on_hit


def main() -> None:
    import synths
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.offline import run_signal

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="exported encoders (.onnx with cards)")
    ap.add_argument("--data", default="data/drums")
    ap.add_argument("--per-kit", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, names = held_out_hits(args.data, args.per_kit)
    b, n = x.shape[0], x.shape[-1]
    signal = np.zeros(b * SPACING + n, np.float32)
    for i in range(b):
        signal[i * SPACING : i * SPACING + n] += x[i, 0].numpy()
    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    metrics = Metrics(synth.n_samples, jtfs=False)
    for model in args.models:
        rec = Hits()
        engine = Engine(model, SR, 256, sinks=[rec], lookahead=True, play_voices=False)
        t0 = time.perf_counter()
        run_signal(engine, signal)
        seconds = time.perf_counter() - t0
        onsets = np.array(sorted(rec.theta))
        theta = np.full((b, synth.n_params), 0.5, np.float32)
        found = 0
        for i in range(b):  # the detected onset nearest each hit's start (within 20 ms)
            near = onsets[np.abs(onsets - i * SPACING) < 0.02 * SR] if onsets.size else onsets
            if near.size:
                theta[i], found = rec.theta[int(near[0])], found + 1
        with torch.no_grad():
            y = synth(torch.from_numpy(theta), torch.arange(b))
        row = {"model": str(model), "analysed_by": engine.analyser.path.name,
               "window": engine.analyser.windows[-1], "hits_found": f"{found}/{b}",
               **metrics(y, x), "s_per_hit": seconds / b}
        print(json.dumps(row), flush=True)
        engine.close()


if __name__ == "__main__":
    main()
