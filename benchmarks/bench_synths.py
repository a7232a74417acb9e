"""Speed of the differentiable synths (CPU, 2 threads by default), as real-time factors and vs peers.

Run from the repository root: ``python benchmarks/bench_synths.py [--threads 2] [--repeats 5]``
(sets ``OMP_WAIT_POLICY=PASSIVE`` unless the environment already sets it).

Figures (median wall time over ``--repeats`` runs after a warm-up):
- tr808: batch 64 × 1 s forward and forward+backward (target ≥ 50× / ≥ 10× real time); one voice
  without grad, as live playback renders it (one torch thread; target ≤ 5 ms); the high-pass alone vs
  scipy's sequential ``lfilter`` over the same batch (the peer the tests compare against).
- granular: batch 32 × 4 s forward (target ≥ 20× real time) and forward+backward; vs the reference's
  per-item, per-grain loop (ported in tests/synths/test_granular.py) on the same items.
- chirplet: batch 32 × 4 s forward.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

# Idle OpenMP workers sleep instead of spinning. On a shared, oversubscribed machine the default (spin,
# then yield) makes each parallel op wait for a descheduled worker: measured here, one 808 voice took
# ~900 ms wall with 2 threads spinning vs ~3.5 ms passive. Must be set before torch loads OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import scipy.signal  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import synths  # noqa: E402
from synths.biquad import highpass, highpass_coefficients  # noqa: E402
from tests.synths.test_granular import reference_texture  # noqa: E402


def median_time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median (wall, process CPU) seconds of ``fn()`` over ``repeats`` runs after one warm-up run.

    CPU time is what the work costs on a free machine; wall time also counts waiting for a busy CPU.
    """
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def forward_backward(synth: synths.Synth, theta: torch.Tensor, seed: torch.Tensor) -> Callable[[], None]:
    """A closure running forward + backward of a scalar loss w.r.t. theta."""

    def run() -> None:
        t = theta.clone().requires_grad_(True)
        synth(t, seed).square().mean().backward()

    return run


def report(label: str, times: tuple[float, float], audio_s: float | None = None, target: str = "") -> float:
    """Print wall/CPU milliseconds and the real-time factor (from wall time); return wall seconds."""
    wall, cpu = times
    rt = f"{audio_s / wall:7.1f}× real time" if audio_s else ""
    print(f"{label:<48} wall {wall * 1000:8.2f} ms  cpu {cpu * 1000:8.2f} ms  {rt:<20} {target}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    load = os.getloadavg()[0]
    print(
        f"torch {torch.__version__}, {args.threads} threads, OMP_WAIT_POLICY={os.environ['OMP_WAIT_POLICY']},"
        " "
        f"median of {args.repeats}, load avg {load:.1f}\n"
    )

    tr808 = synths.get("tr808")
    theta = torch.rand(64, 14, generator=gen)
    seed = torch.arange(64)
    with torch.no_grad():
        t_fwd = median_time(lambda: tr808(theta, seed), args.repeats)
    report("tr808  B=64 × 1 s forward", t_fwd, 64.0, "(target ≥ 50×)")
    t_fb = median_time(forward_backward(tr808, theta, seed), args.repeats)
    report("tr808  B=64 × 1 s forward+backward", t_fb, 64.0, "(target ≥ 10×)")
    voice = synths.get("tr808", pre_delay=0, max_shift=0)  # as live playback renders hits
    default = voice.to_theta({})
    patches = itertools.count()  # one voice per call, cycling through the 64 random patches
    # The live engine renders voices with one torch thread (live/cli_parts.py): a 44,100-sample op is too
    # small to gain from a second thread, whose wake-up (passive OpenMP wait) costs more than it saves.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with torch.no_grad():
        t_voice = median_time(lambda: voice(default, seed[:1]), max(20, 4 * args.repeats))
        report("tr808  one voice, 1 thread, default patch", t_voice, 1.0, "(target ≤ 5 ms)")

        def random_voice() -> None:
            i = next(patches) % 64
            voice(theta[i : i + 1], seed[i : i + 1])

        t_random = median_time(random_voice, 64)
    report("tr808  one voice, 1 thread, random patches", t_random, 1.0, "(target ≤ 5 ms)")
    torch.set_num_threads(threads)

    x = torch.rand(64, 44100, generator=gen, dtype=torch.float64) * 2 - 1
    fc = torch.rand(64, generator=gen, dtype=torch.float64) * 20000 + 20
    q = torch.rand(64, generator=gen, dtype=torch.float64) * 9.5 + 0.5
    b, a = highpass_coefficients(fc, q, 44100)
    xn, bn, an = x.numpy(), b.numpy(), a.numpy()
    t_hp = median_time(lambda: highpass(x, fc, q, 44100), args.repeats)
    t_lf = median_time(lambda: [scipy.signal.lfilter(bn[i], an[i], xn[i]) for i in range(64)], args.repeats)
    report("biquad B=64 × 1 s, closed form + FFT (f64)", t_hp)
    report("biquad B=64 × 1 s, scipy lfilter loop (peer)", t_lf, None, f"peer/ours {t_lf[0] / t_hp[0]:.2f}×")

    granular = synths.get("granular")
    theta_g = torch.rand(32, 2, generator=gen)
    seed_g = torch.arange(32)
    with torch.no_grad():
        t_g = median_time(lambda: granular(theta_g, seed_g), args.repeats)
    report("granular B=32 × 4 s forward", t_g, 128.0, "(target ≥ 20×)")
    t_gb = median_time(forward_backward(granular, theta_g, seed_g), args.repeats)
    report("granular B=32 × 4 s forward+backward", t_gb, 128.0)
    rows = theta_g[:4].double().tolist()
    loop = lambda: [reference_texture(d, s, i) for i, (d, s) in enumerate(rows)]  # noqa: E731
    t_ref = tuple(8 * v for v in median_time(loop, args.repeats))
    report(
        "granular B=32 reference loop (peer, 4 items ×8)", t_ref, 128.0, f"peer/ours {t_ref[0] / t_g[0]:.1f}×"
    )

    chirplet = synths.get("chirplet")
    with torch.no_grad():
        t_c = median_time(lambda: chirplet(theta_g, seed_g), args.repeats)
    report("chirplet B=32 × 4 s forward", t_c, 128.0)
    t_cb = median_time(forward_backward(chirplet, theta_g, seed_g), args.repeats)
    report("chirplet B=32 × 4 s forward+backward", t_cb, 128.0)


if __name__ == "__main__":
    main()
