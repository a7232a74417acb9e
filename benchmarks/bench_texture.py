"""Benchmark: does texture mode follow its input?  Ours against a naive texture path, same run.

Input: shipped-synth clips back to back (4 s each, 12 clips, peak 0.1, and once at 0.9), each with
its own (density, slope); the engine (44.1 kHz, 256-sample blocks, shipped granular encoder) analyses
every 0.5 s.
Measured: correlation and mean absolute error of each full-window frame's θ̂ against the mean θ of that
window (what the window holds: θ after the window's delay), the error of the frames before the window
has filled (against the mean θ heard so far), and on a steady input (a sustained 4-note chord, 10 s)
the spread of θ̂, the envelope modulation of the output (std / mean of 50 ms RMS), when the output
first reaches a third of its steady level, and the frames' velocity.

Baseline (a naive path, built here): the raw window with zeros where nothing was heard yet, no
level normalisation, first analysis after one hop, Poisson grain starts, voice silent until the first
analysis, velocity 0.

    python benchmarks/bench_texture.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import synths  # noqa: E402
from scrapl_live.audio import resample  # noqa: E402
from scrapl_live.live import texture  # noqa: E402
from scrapl_live.live.engine import Engine  # noqa: E402
from scrapl_live.live.offline import run_blocks  # noqa: E402

SR, BLOCK = 44100, 256
MODEL = ROOT / "models" / "granular.onnx"
GRAN = synths.get("granular").eval()


class _PoissonVoice(texture.GranularVoice):
    """The naive schedule: Poisson grain starts, each with the amplitude of a random grain index."""

    def _spawn(self, end: int, amps: np.ndarray, gamma: float) -> None:
        for offset in np.flatnonzero(self._rng.random(end - self._t) < self.rate / self.sr):
            free = np.flatnonzero(self._start == texture._FREE)
            if free.size:
                g = int(free[0])
                self._start[g] = self._t + int(offset)
                self._f0[g] = self.f_lo * (self.f_hi / self.f_lo) ** self._rng.random()
                self._gamma[g], self._amp[g] = gamma, float(amps[self._rng.integers(amps.size)])


class _Naive(texture.TextureMode):
    """The naive texture path (see the module docstring)."""

    def __init__(self, engine: Engine, **kw) -> None:
        super().__init__(engine, **kw)
        self.granular = _PoissonVoice(engine.sample_rate, engine.block_size, self._grain_amplitudes,
                                      seed=engine.seed)
        self._next_analysis = self._hop

    def process(self, x: np.ndarray, t0: int, model) -> None:  # noqa: ANN001
        eng = self.engine
        self._level += 0.05 * (float(np.sqrt(np.mean(x**2))) - self._level)
        if eng.t >= self._next_analysis:
            self._next_analysis += self._hop
            start = eng.t - eng.window
            win = eng.window_at(start, eng.window)
            eng.jobs.submit(lambda: self._analyse_raw(model, start, win))
        self._theta = self.smoother.step() if self.smoother.primed else None

    def _analyse_raw(self, model, start: int, win: np.ndarray):  # noqa: ANN001, ANN202
        from scrapl_live.live.events import HitEvent

        eng = self.engine
        theta = eng.infer(model, win, model.window)
        event = HitEvent(eng.new_hit_id(), start, 0.0, theta, eng.physical(theta), 0, True)

        def finish() -> None:
            eng.emit(event, None, notify=False)
            self.smoother.set_target(theta)

        return finish

    def render_into(self, out: np.ndarray) -> None:
        if self._theta is not None:
            super().render_into(out)


def _run(x: np.ndarray, naive: bool, play: bool) -> tuple[np.ndarray, list]:
    eng = Engine(MODEL, SR, BLOCK, play_voices=play)
    if naive:
        eng.strategy = _Naive(eng)
    return run_blocks(eng, x)


def _tracking(naive: bool, peak: float = 0.1) -> tuple[float, ...]:
    rng = np.random.default_rng(0)
    theta = rng.uniform(0.05, 0.95, (12, 2)).astype(np.float32)
    with torch.no_grad():
        clips = GRAN(torch.from_numpy(theta), torch.arange(12))[:, 0].numpy()
    x = resample(peak * clips.reshape(-1) / np.abs(clips).max(), GRAN.sample_rate, SR)
    _, frames = _run(x, naive, play=False)
    w = GRAN.n_samples
    cum = np.concatenate([np.zeros((1, 2)), np.cumsum(np.repeat(theta, w, axis=0), axis=0)])
    # θ the window holds: the mean over its heard part (a partial window starts at sample 0)
    a = np.array([max(0, round(e.t_samples * GRAN.sample_rate / SR)) for e in frames])
    b = np.array([round(e.t_samples * GRAN.sample_rate / SR) + w for e in frames])
    truth = (cum[b] - cum[a]) / (b - a)[:, None]
    est = np.array([e.theta for e in frames])
    full = np.array([e.t_samples >= 0 for e in frames])
    corr = [float(np.corrcoef(est[full, i], truth[full, i])[0, 1]) for i in range(2)]
    return (*corr, float(np.abs(est - truth)[full].mean()), float(np.abs(est - truth)[~full].mean()))


def _steady(naive: bool) -> dict[str, float]:
    t = np.arange(10 * SR) / SR
    x = (0.03 * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))).astype(np.float32)
    out, frames = _run(x, naive, play=True)
    k = SR // 20
    env = np.sqrt(np.convolve(out.astype(np.float64) ** 2, np.ones(k) / k, "valid"))[:: SR // 100]
    steady = env[300:]
    thetas = np.array([e.theta for e in frames if e.t_samples >= 0])
    return {"modulation": float(steady.std() / steady.mean()),
            "start_s": float(np.argmax(env > steady.mean() / 3) / 100),
            "theta_std": float(thetas.std(axis=0).max()),
            "velocity": float(np.mean([e.velocity for e in frames]))}


def main() -> None:
    torch.set_num_threads(1)
    rows = {}
    for name, naive in (("ours", False), ("naive path", True)):
        rows[name] = (_tracking(naive), _steady(naive), _tracking(naive, peak=0.9)[2])
    print("| measurement | ours | naive path |")
    print("|---|---|---|")
    (od, os_, ol, op), o, oloud = rows["ours"]
    (bd, bs, bl, bp), b, bloud = rows["naive path"]
    print(f"| θ̂ vs window's θ, correlation: density / slope | {od:.3f} / {os_:.3f} | {bd:.3f} / {bs:.3f} |")
    print(f"| θ̂ vs window's θ, mean abs error: full windows | {ol:.3f} | {bl:.3f} |")
    print(f"| the same at peak 0.9 instead of 0.1 | {oloud:.3f} | {bloud:.3f} |")
    print(f"| θ̂ vs heard θ, mean abs error: first 4 s (window filling) | {op:.3f} | {bp:.3f} |")
    print(f"| steady chord: output envelope modulation | {o['modulation']:.3f} | {b['modulation']:.3f} |")
    print(f"| steady chord: output at 1/3 of its level | {o['start_s']:.2f} s | {b['start_s']:.2f} s |")
    print(f"| steady chord: spread of θ̂ (max std) | {o['theta_std']:.3f} | {b['theta_std']:.3f} |")
    print(f"| steady chord: mean frame velocity | {o['velocity']:.2f} | {b['velocity']:.2f} |")


if __name__ == "__main__":
    main()
