"""Onset detector benchmark on real drums, side by side with aubio's online onset detector.

    python benchmarks/bench_onset.py [--kits test] [--rates 44100 48000] [--hits 300] [--block 64]

Material (``data/hydrogen``, ``scrapl-live data hydrogen``): the kicks, snares, toms, claps, hats and
cymbals (``train.drumlabels`` labels; "other" is left out), each starting 5 ms before its attack = its
first sample at -40 dB of its peak, the true onset:
1. *mixed*: --hits random one-shots over -60 dBFS white noise, peaks -40…0 dBFS, gaps 60 ms…1 s (each
   rings on under the next); F1/precision/recall within ±10 ms, placement error |found - true|
   (median, p95) of the matched hits, detection delay (end of the block that reports the hit - true
   onset; p50, p95) at --block-sample blocks.
2. *decays*: every kick, snare, tom, clap, hat and cymbal alone in full (peak -20…0 dBFS, 0.3 s of
   noise between) and every hat struck 50-300 ms into a ringing kick (hat 0…12 dB below the kick):
   precision/recall (a retrigger inside a decay is a false positive).
3. *file start*: every one-shot as its own file with its attack at sample 0 (found within 10 ms?) and
   the hits per file.
4. The generated 808 sequence of the unit test (60 hits, -40…0 dBFS over -60 dBFS noise).
5. Cost per 256-sample block (p50/p99 µs, one thread).

--kits picks the kits: ``test`` (the held-out kits of the manifest), ``tune`` (train kits at even
positions in sorted order: the detector's defaults were chosen on these) or ``check`` (the other
train kits).  The peer is aubio 0.4.9 (``pip install aubio``), hop = --block, buffer 512, its default
method hfc (``--aubio-method`` for another); its reported time includes aubio's own delay compensation.
Ratios are ours / aubio's.  *Audible* hits: the hit's own energy in its first 10 ms is at least that of
what rings on under it (``tests.live.signals.audible``); recall is also given over those.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrapl_live.live.onset import OnsetDetector  # noqa: E402
from tests.live.signals import HYDROGEN, PRE_ROLL_S, audible, hit_sequence, load_shots, mix_shots, shot_events  # noqa: E402

Detect = Callable[[np.ndarray, int, int], list[tuple[int, int]]]  # (audio, sr, block) -> (onset, seen)
DECAY_CLASSES = {"kick", "snare", "tom", "clap", "closed_hat", "open_hat", "cymbal"}


def ours(audio: np.ndarray, sr: int, block: int) -> list[tuple[int, int]]:
    """(onset, samples seen when it was returned) pairs of :class:`OnsetDetector`."""
    det, out = OnsetDetector(sr), []
    for i in range(0, audio.size, block):
        out += [(o, min(i + block, audio.size)) for o in det.process(audio[i : i + block])]
    return out + [(o, audio.size) for o in det.flush()]


def aubio_detector(method: str) -> Detect:
    """aubio.onset(method, buf 512, hop = block) as a :data:`Detect`; onset = ``get_last()``."""
    import aubio

    def detect(audio: np.ndarray, sr: int, block: int) -> list[tuple[int, int]]:
        det, out = aubio.onset(method, 512, block, sr), []
        x = np.concatenate([audio, np.zeros((-audio.size) % block, np.float32)]).astype(np.float32)
        for i in range(0, x.size, block):
            if det(x[i : i + block])[0]:
                out.append((int(det.get_last()), i + block))
        return out

    return detect


def match(found: np.ndarray, truth: np.ndarray, tol: int) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one greedy matching within ±tol: (index into found or -1 per true onset, used mask)."""
    idx, used = np.full(truth.size, -1), np.zeros(found.size, bool)
    for i, t in enumerate(truth):
        d = np.abs(found - t).astype(np.float64)
        d[used] = np.inf
        if d.size and d.min() <= tol:
            idx[i] = int(d.argmin())
            used[idx[i]] = True
    return idx, used


def score(pairs: list[tuple[int, int]], truth: np.ndarray, sr: int, heard: np.ndarray | None = None
          ) -> dict[str, float]:
    """F1/precision/recall (±10 ms), placement error and detection delay (ms) of matched hits; with
    ``heard`` ((n,) bool, :func:`audible`) also recall and F1 over the audible hits (r_aud, f1_aud)."""
    found = np.array([p[0] for p in pairs], np.int64)
    seen = np.array([p[1] for p in pairs], np.int64)
    idx, _ = match(found, truth, int(0.010 * sr))
    hit = idx >= 0
    tp = int(hit.sum())
    p, r = tp / max(found.size, 1), tp / max(truth.size, 1)
    err = np.abs(found[idx[hit]] - truth[hit]) * 1e3 / sr
    delay = (seen[idx[hit]] - truth[hit]) * 1e3 / sr
    out = {"f1": 2 * p * r / max(p + r, 1e-12), "p": p, "r": r, "n": float(truth.size)}
    if heard is not None:
        ra = float(hit[heard].mean())
        out.update(r_aud=ra, f1_aud=2 * p * ra / max(p + ra, 1e-12), n_aud=float(heard.sum()))
    for name, v in (("err", err), ("delay", delay)):
        for q in (50, 95):
            out[f"{name}{q}"] = float(np.percentile(v, q)) if v.size else float("nan")
    return out


def decay_material(shots: list[tuple[str, np.ndarray]], sr: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Every drum of DECAY_CLASSES alone in full, then every hat 50-300 ms into a ringing kick."""
    rng = np.random.default_rng(seed)
    events, t = [], 0
    for label, x in shots:
        if label in DECAY_CLASSES:
            events.append((t, x, float(rng.uniform(-20.0, 0.0))))
            t += x.size + int(0.3 * sr)
    kicks = [x for label, x in shots if label == "kick"]
    for hat in (x for label, x in shots if label.endswith("hat")):
        kick_db = float(rng.uniform(-12.0, 0.0))
        events.append((t, kicks[rng.integers(len(kicks))], kick_db))
        events.append((t + int(rng.uniform(0.05, 0.3) * sr), hat, kick_db - float(rng.uniform(0.0, 12.0))))
        t = events[-1][0] + hat.size + int(0.5 * sr)
    return mix_shots(events, t + sr, sr, -70.0, seed)


def file_start(detect: Detect, shots: list[tuple[str, np.ndarray]], sr: int, block: int) -> tuple[
        float, float]:
    """(share of one-shots found within 10 ms of sample 0, mean hits per file) with the attack at sample 0."""
    pre, found, hits = round(PRE_ROLL_S * sr), 0, 0
    for _, x in shots:
        onsets = [o for o, _ in detect(np.ascontiguousarray(x[pre:]), sr, block)]
        found += any(o <= 0.010 * sr for o in onsets)
        hits += len(onsets)
    return found / len(shots), hits / len(shots)


def cost_us(detect_block: Callable[[np.ndarray], object], audio: np.ndarray, block: int = 256) -> tuple[
        float, float]:
    """(p50, p99) µs of one call per ``block`` samples over ``audio``."""
    times = []
    for i in range(0, audio.size - block + 1, block):
        t0 = time.perf_counter()
        detect_block(audio[i : i + block])
        times.append(time.perf_counter() - t0)
    return float(np.percentile(times, 50) * 1e6), float(np.percentile(times, 99) * 1e6)


def select(kits: str) -> dict[str, object]:
    """load_shots selector for --kits."""
    import json

    manifest = json.loads((HYDROGEN / "manifest.json").read_text())
    train = sorted({f["kit"] for f in manifest["files"] if f.get("split") == "train"})
    if kits == "test":
        return {"split": "test"}
    return {"split": "train", "kits": set(train[0::2] if kits == "tune" else train[1::2])}


def row(name: str, a: dict[str, float], b: dict[str, float] | None) -> None:
    """Print one material's figures for ours, aubio and their ratios."""
    keys = ("f1", "p", "r", "err50", "err95", "delay50", "delay95")
    for who, res in (("ours", a), ("aubio", b)):
        if res is None:
            continue
        line = "  ".join(f"{res[k]:6.3f}" if k in ("f1", "p", "r") else f"{res[k]:6.2f}" for k in keys)
        if "r_aud" in res:
            line += (f"   audible ({res['n_aud']:.0f}/{res['n']:.0f}): recall {res['r_aud']:.3f} "
                     f"F1 {res['f1_aud']:.3f}")
        print(f"    {name if who == 'ours' else '':12s} {who:5s} {line}")
    if b is not None:
        ratios = {k: a[k] / b[k] for k in ("f1", "f1_aud", "err50", "delay50") if b.get(k)}
        print(f"    {'':12s} ratio ours/aubio: " + "  ".join(f"{k} {v:.2f}" for k, v in ratios.items()))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kits", choices=("test", "tune", "check"), default="test")
    ap.add_argument("--rates", type=int, nargs="+", default=[44100, 48000])
    ap.add_argument("--hits", type=int, default=300)
    ap.add_argument("--block", type=int, default=64)
    ap.add_argument("--seeds", type=int, default=3, help="mixed sequences per rate")
    ap.add_argument("--aubio-method", default="hfc")
    ap.add_argument("--no-aubio", action="store_true")
    args = ap.parse_args(argv)
    if not (HYDROGEN / "manifest.json").is_file():
        sys.exit(f"error: no Hydrogen kits in {HYDROGEN}: fetch them with `scrapl-live data hydrogen`")
    peer = None
    if not args.no_aubio:
        try:
            peer = aubio_detector(args.aubio_method)
        except ImportError:
            sys.exit("error: aubio is not installed: `pip install aubio` (or pass --no-aubio)")
    print("columns: F1  precision  recall  placement-error ms p50 p95  delay ms p50 p95")
    for sr in args.rates:
        shots = [s for s in load_shots(HYDROGEN, sr, **select(args.kits)) if s[0] in DECAY_CLASSES]
        print(f"\n{sr} Hz, kits={args.kits} ({len(shots)} one-shots), block {args.block}")
        runs: dict[str, list[tuple[np.ndarray, np.ndarray, np.ndarray | None]]] = {
            "mixed": [], "decays": [], "808 synth": []}
        for seed in range(args.seeds):
            events = shot_events([x for _, x in shots], sr, args.hits, seed=seed)
            audio, onsets = mix_shots(events, events[-1][0] + sr, sr, -60.0, seed)
            runs["mixed"].append((audio, onsets, audible(events, audio, sr)))
        runs["decays"].append((*decay_material(shots, sr, seed=0), None))
        synth = hit_sequence(60, sr, seed=3, noise_db=-60.0, levels_db=(-40.0, 0.0))
        runs["808 synth"].append((*synth, None))
        for name, seqs in runs.items():
            res = []
            for det in (ours, peer) if peer else (ours,):
                pairs, truth, offset = [], [], 0
                for audio, onsets, _ in seqs:  # pooled over the sequences
                    pairs += [(o + offset, s + offset) for o, s in det(audio, sr, args.block)]
                    truth.append(onsets + offset)
                    offset += audio.size + sr
                heard = None if seqs[0][2] is None else np.concatenate([h for _, _, h in seqs])
                res.append(score(pairs, np.concatenate(truth), sr, heard))
            row(name, res[0], res[1] if peer else None)
        fa = file_start(ours, shots, sr, args.block)
        line = f"    file start   ours  found {fa[0]:.3f}, {fa[1]:.2f} hits per file"
        if peer:
            fb = file_start(peer, shots, sr, args.block)
            line += f";  aubio found {fb[0]:.3f}, {fb[1]:.2f} hits per file"
        print(line)
        audio = runs["mixed"][0][0]
        det = OnsetDetector(sr)
        c = cost_us(det.process, audio)
        line = f"    cost per 256-sample block: ours p50 {c[0]:.1f} µs, p99 {c[1]:.1f} µs"
        if peer:
            import aubio

            a = aubio.onset(args.aubio_method, 512, 256, sr)
            ca = cost_us(a, audio.astype(np.float32))
            line += f";  aubio (hop 256) p50 {ca[0]:.1f} µs, p99 {ca[1]:.1f} µs; ratio p50 {c[0] / ca[0]:.2f}"
        print(line)


if __name__ == "__main__":
    main()
