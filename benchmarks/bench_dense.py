"""Dense playing: onset recall on real one-shots at 8 and 12 hits/s, side by side with aubio.

    python benchmarks/bench_dense.py [--kits test] [--rates 8 12] [--seconds 60] [--seeds 2]
        [--sr 44100 48000]

Material (``data/drums``, ``scrapl-live data drums``): the kicks, snares, toms, claps, hats and
cymbals of the chosen split, in full (each rings on under the next), at ``--rates`` hits/s (gaps
uniform in 0.5…1.5 of the mean, so 42…125 ms apart at 12 hits/s), peaks -30…0 dBFS, over -60 dBFS
noise; true onset = the one-shot's first sample at -40 dB of its peak.

*Masked* hit (independent of any detector): in its first 10 ms the hit's own energy is below that of
everything else sounding then (the earlier hits' tails plus the noise), in each of the detector's
bands (whole signal, below 200 Hz, above 3 kHz) — ``tests.live.signals.audible`` is False.  Printed per
rate: the share of masked hits, recall on the unmasked hits, recall on all, precision (within ±10 ms;
a found onset matching no hit is a false positive), detection delay p50 and placement error p50, for
ours (:class:`OnsetDetector`, 64-sample blocks) and for aubio 0.4.9 (``aubio.onset("hfc", 512, 64)``)
on the same blocks; ratios are ours / aubio's.

--kits: ``test`` (the held-out kits), ``tune`` (the validation kit and the train kits at even positions
in sorted order: detector settings are chosen on these) or ``check`` (the other train kits).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_onset import DECAY_CLASSES, aubio_detector, ours, score  # noqa: E402

from tests.live.signals import audible, load_shots, mix_shots  # noqa: E402

DRUMS = Path(__file__).resolve().parents[1] / "data" / "drums"


def kits(which: str) -> set[str]:
    """Kit names of ``data/drums`` for --kits."""
    files = json.loads((DRUMS / "manifest.json").read_text())["files"]
    if which == "test":
        return {f["kit"] for f in files if f["split"] == "test"}
    train = sorted({f["kit"] for f in files if f["split"] == "train"})
    if which == "tune":
        return set(train[0::2]) | {f["kit"] for f in files if f["split"] == "val"}
    return set(train[1::2])


def dense_events(shots: list[np.ndarray], sr: int, rate: float, seconds: float, seed: int
                 ) -> list[tuple[int, np.ndarray, float]]:
    """(start, one-shot, peak dBFS) events at ``rate`` hits/s for ``seconds``, gaps 0.5…1.5 of 1/rate."""
    rng = np.random.default_rng(seed)
    n = int(rate * seconds)
    starts = (np.cumsum(rng.uniform(0.5, 1.5, n) / rate) * sr).astype(np.int64)
    return [(int(t), shots[rng.integers(len(shots))], float(rng.uniform(-30.0, 0.0))) for t in starts]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kits", choices=("test", "tune", "check"), default="test")
    ap.add_argument("--rates", type=float, nargs="+", default=[8.0, 12.0], help="hits per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each sequence")
    ap.add_argument("--seeds", type=int, default=2, help="sequences per rate")
    ap.add_argument("--sr", type=int, nargs="+", default=[44100, 48000], help="sample rates")
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--no-aubio", action="store_true")
    args = ap.parse_args(argv)
    if not (DRUMS / "manifest.json").is_file():
        sys.exit(f"error: no labelled one-shots in {DRUMS}: fetch them with `scrapl-live data drums DIR`")
    peer = None if args.no_aubio else aubio_detector("hfc")
    for sr in args.sr:
        shots = [x for c, x in load_shots(DRUMS, sr, kits=kits(args.kits)) if c in DECAY_CLASSES]
        print(f"\n{sr} Hz, kits={args.kits} ({len(shots)} one-shots), block {args.block}, "
              f"{args.seeds} x {args.seconds:g} s per rate")
        print("  rate  masked   who    recall(unmasked)  recall(all)  precision  delay p50  placement p50")
        for rate in args.rates:
            seqs = []
            for seed in range(args.seeds):
                events = dense_events(shots, sr, rate, args.seconds, seed)
                audio, onsets = mix_shots(events, events[-1][0] + sr, sr, -60.0, seed)
                seqs.append((audio, onsets, audible(events, audio, sr)))
            heard = np.concatenate([h for _, _, h in seqs])
            res = {}
            for who, det in (("ours", ours), ("aubio", peer)):
                if det is None:
                    continue
                pairs, truth, offset = [], [], 0
                for audio, onsets, _ in seqs:  # pooled over the sequences
                    pairs += [(o + offset, s + offset) for o, s in det(audio, sr, args.block)]
                    truth.append(onsets + offset)
                    offset += audio.size + sr
                res[who] = r = score(pairs, np.concatenate(truth), sr, heard)
                print(f"  {rate:4g}  {1 - heard.mean():6.3f}   {who:5s}  {r['r_aud']:8.3f}          "
                      f"{r['r']:8.3f}   {r['p']:8.3f}   {r['delay50']:6.2f} ms   {r['err50']:6.2f} ms")
            if len(res) == 2:
                a, b = res["ours"], res["aubio"]
                print(f"  {'':16s}ratio  {a['r_aud'] / b['r_aud']:8.2f}          {a['r'] / b['r']:8.2f}   "
                      f"{a['p'] / b['p']:8.2f}")


if __name__ == "__main__":
    main()
