"""Soak benchmark: an hour of hits through the engine in file mode (or live through JACK), RSS sampled.

    python benchmarks/bench_soak.py [--minutes 60] [--rate 8] [--model models/tr808.onnx] [--warmup 5]
    JACK_DEFAULT_SERVER=NAME python benchmarks/bench_soak.py --live --minutes 10 --every 1 --warmup 2

The input is streamed block by block (never held whole): 808 one-shots cut to ``--shot-ms`` (faded
out, so that at 8 hits/s a hit does not ring under the next: the detector ignores onsets inside a
ringing decay) at ``--rate`` hits/s (random presets, levels -30..-6 dBFS, jittered gaps) over -60 dBFS
noise, through :class:`Engine` in file mode
(``lookahead=True``, voices on; no MIDI-file sink, which keeps every event by design).  Printed: RSS
(``/proc/self/statm``) every ``--every`` minutes of audio, the growth after the ``--warmup`` minutes
(target <= 5 MB), hits detected, the engine's bounded state (``recent_hits``) and the wall time.
The peer is the same run's RSS right after warm-up.

``--live`` plays ``--minutes`` of hits (``bench_live``'s clip, 48 kHz) through the engine on the
running JACK server (``JACK_DEFAULT_SERVER`` picks it) with ``bench_live``'s player client, and samples
this process's RSS every ``--every`` minutes of wall time; also printed: xruns, underruns and hits.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synths  # noqa: E402
from scrapl_live.live.demo import PRESETS  # noqa: E402
from scrapl_live.live.engine import LIVE_SYNTH_OPTIONS, Engine  # noqa: E402

SR, BLOCK = 44100, 256


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def one_shots(length_s: float, n: int = 24, seed: int = 0) -> list[np.ndarray]:
    """``n`` 808 one-shots (the demo presets, θ jittered) of ``length_s`` at SR, the last 10 ms faded out."""
    rng = np.random.default_rng(seed)
    synth = synths.get("tr808", **LIVE_SYNTH_OPTIONS["tr808"], n_samples=int(length_s * SR))
    fade = np.linspace(1.0, 0.0, SR // 100, dtype=np.float32)
    names = list(PRESETS)
    shots = []
    for i in range(n):
        theta = synth.to_theta(PRESETS[names[i % len(names)]])
        theta = (theta + torch.from_numpy(rng.uniform(-0.05, 0.05, theta.shape)).float()).clamp(0, 1)
        with torch.no_grad():
            shot = synth(theta, torch.tensor([i]))[0, 0].numpy()
        shot[-fade.size :] *= fade
        shots.append(shot / max(float(np.abs(shot).max()), 1e-9))
    return shots


def blocks(minutes: float, rate: float, shot_s: float, seed: int = 0):  # noqa: ANN201 - (block, t0)s
    """Input blocks (BLOCK,) float32 of ``minutes`` of hits at ``rate`` hits/s, generated as they are fed."""
    rng = np.random.default_rng(seed)
    shots = one_shots(shot_s)
    n_blocks = int(minutes * 60 * SR) // BLOCK
    pending: list[tuple[int, np.ndarray]] = []  # (start sample, scaled one-shot) still sounding
    next_hit = int(rng.uniform(0.5, 1.5) * SR / rate)
    for b in range(n_blocks):
        t0 = b * BLOCK
        while next_hit < t0 + BLOCK:
            shot = shots[rng.integers(len(shots))] * np.float32(10 ** (rng.uniform(-30, -6) / 20))
            pending.append((next_hit, shot))
            next_hit += int(rng.uniform(0.6, 1.4) * SR / rate)
        x = (rng.standard_normal(BLOCK) * 1e-3).astype(np.float32)
        for start, shot in pending:
            a, z = max(t0, start), min(t0 + BLOCK, start + shot.size)
            if a < z:
                x[a - t0 : z - t0] += shot[a - start : z - start]
        pending = [(s, sh) for s, sh in pending if s + sh.size > t0 + BLOCK]
        yield x, t0


def _growth(samples: list[tuple[float, float]], warmup: float) -> tuple[float, float, float]:
    """(RSS at the first sample >= ``warmup`` min, max RSS from then on, growth) in MB; nan if none."""
    after = [mb for m, mb in samples if m >= warmup]
    return (after[0], max(after), max(after) - after[0]) if after else (float("nan"),) * 3


def live(args: argparse.Namespace) -> None:
    """The soak through JACK in real time: RSS sampled by a thread while the player plays the clip."""
    import bench_live

    from scrapl_live.live.realtime import JOB_PRIORITY
    from scrapl_live.live.stream import LiveStream
    from tests.live.signals import hit_sequence

    sr, n_hits = bench_live.SR, int(args.rate * args.minutes * 60)
    gaps = (0.8 / args.rate, 1.2 / args.rate)
    clip, _ = hit_sequence(n_hits, sr, seed=5, gap_s=gaps, levels_db=(-30.0, -3.0))
    engine = Engine(args.model, sr, bench_live.BLOCK, threads=1, async_inference=True,
                    job_priority=JOB_PRIORITY)
    name = f"soak-eng-{os.getpid()}"
    stream = LiveStream(engine, jack_client_name=name)
    samples: list[tuple[float, float]] = []
    done = threading.Event()

    def sample() -> None:
        t0 = time.perf_counter()
        while not done.wait(60 * args.every - (time.perf_counter() - t0) % (60 * args.every)):
            minute, mb = (time.perf_counter() - t0) / 60, rss_mb()
            samples.append((minute, mb))
            print(f"  {minute:5.1f} min  RSS {mb:7.1f} MB  hits {engine.n_hits}  "
                  f"xruns {stream.xruns - start['xruns']}  underruns {stream.underruns - start['underruns']}",
                  flush=True)

    sampler = threading.Thread(target=sample, daemon=True)
    start: dict[str, int] = {}

    def go() -> None:  # counts from the clip's first sample on, not the stream's start-up
        start.update(xruns=stream.xruns, underruns=stream.underruns)
        sampler.start()

    print(f"soak, live through JACK: {args.minutes:g} min at {args.rate:g} hits/s ({n_hits} hits), {sr} Hz, "
          f"{bench_live.BLOCK}-frame blocks, model {Path(args.model).name}; RSS at start {rss_mb():.1f} MB",
          flush=True)
    with tempfile.TemporaryDirectory() as d:
        try:
            with stream:
                _, peer_xruns = bench_live._play_through(name, clip, Path(d), go)
                done.set()
                sampler.join()
                xruns, underruns = stream.xruns - start["xruns"], stream.underruns - start["underruns"]
        finally:
            engine.close()
    base, top, growth = _growth(samples, args.warmup)
    print(f"RSS after {args.warmup:g} min warm-up: {base:.1f} MB -> max {top:.1f} MB, growth {growth:.2f} MB "
          f"(target <= 5 MB); hits {engine.n_hits}/{n_hits}; xruns engine {xruns}, "
          f"player (peer) {peer_xruns}; "
          f"underruns {underruns}; errors {engine.errors}; "
          f"recent_hits {len(engine.recent_hits)}/{engine.recent_hits.maxlen}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="minutes of audio fed (default: 60)")
    ap.add_argument("--rate", type=float, default=8.0, help="hits per second (default: 8)")
    ap.add_argument("--warmup", type=float, default=5.0, help="minutes before the RSS baseline (default: 5)")
    ap.add_argument("--every", type=float, default=5.0, help="minutes between RSS prints (default: 5)")
    ap.add_argument("--shot-ms", type=float, default=100.0, help="one-shot length in ms (default: 100)")
    ap.add_argument("--model", default=str(ROOT / "models" / "tr808.onnx"), help="encoder (default: shipped)")
    ap.add_argument("--live", action="store_true", help="in real time through the running JACK server")
    args = ap.parse_args()
    torch.set_num_threads(1)
    if args.live:
        live(args)
        return
    engine = Engine(args.model, SR, BLOCK, lookahead=True)
    per_min = 60 * SR // BLOCK
    base = None
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    print(f"soak: {args.minutes:g} min of audio at {args.rate:g} hits/s, {SR} Hz, {BLOCK}-sample blocks, "
          f"model {Path(args.model).name}; RSS at start {rss_mb():.1f} MB")
    for i, (x, _) in enumerate(blocks(args.minutes, args.rate, args.shot_ms / 1e3), start=1):
        engine.process_block(x)
        if i % per_min == 0:
            minute = i / per_min
            mb = rss_mb()
            samples.append((minute, mb))
            if base is None and minute >= args.warmup:
                base = mb
            if minute % args.every == 0:
                growth = "" if base is None else f", +{mb - base:.2f} MB since warm-up"
                print(f"  {minute:5.0f} min  RSS {mb:7.1f} MB{growth}  hits {engine.n_hits}  "
                      f"wall {time.perf_counter() - start:6.0f} s", flush=True)
    engine.drain()
    base, top, growth = _growth(samples, args.warmup)
    print(f"RSS after warm-up: {base:.1f} MB -> max {top:.1f} MB, growth {growth:.2f} MB "
          f"(target <= 5 MB); hits {engine.n_hits} ({engine.n_hits / (args.minutes * 60):.2f}/s), "
          f"recent_hits {len(engine.recent_hits)}/{engine.recent_hits.maxlen}, errors {engine.errors}, "
          f"wall {time.perf_counter() - start:.0f} s")
    engine.close()


if __name__ == "__main__":
    main()
