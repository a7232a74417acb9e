"""Texture mode (granular): periodic analyses of the latest window steer a streaming grain texture.

Every ``analysis_hop_s`` the encoder sees the latest W input samples (a job); its θ̂ becomes the
target of a one-pole :class:`ParamSmoother`, advanced once per block, that drives a
:class:`GranularVoice` and the parameter sinks (``ParamSink.on_params``, once per block).  Each
analysis is recorded as a texture frame (:class:`~scrapl_live.live.events.HitEvent`, stage 0, final,
velocity from the window's RMS level).  Parameters are looked up by name (``density``, ``slope``)
through the synth's specs.

The encoder learnt from the synth's clips, which have unit L2 norm, so each window is scaled to unit
norm first (its level goes to the voice's gain instead).  Until a full window has been heard the
heard part (at least ``MIN_HEARD_S``) is repeated to fill it: zeros in an unfilled window pull every
input to the same θ̂.  The voice plays from the first block, at the synth's default θ and the input's
level, until the first analysis lands.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

import synths
from scrapl_live.audio import resample
from scrapl_live.live.engine import Engine
from scrapl_live.live.events import HitEvent
from scrapl_live.live.latency import Stopwatch
from scrapl_live.live.model import LoadedModel
from scrapl_live.live.sinks import ParamSink

MIN_HEARD_S = 1.0
"""Seconds of input the first analysis waits for: from a shorter heard part, repeated to 4 s, the
encoder's density is no better than the default θ."""
SILENCE_RMS = 1e-5
"""Windows below this RMS are not analysed (θ̂ of silence means nothing; the voice fades with the level)."""


class TextureMode:
    """The texture strategy of :class:`~scrapl_live.live.engine.Engine` (see the module docstring).

    analysis_hop_s: seconds between analyses; smoothing_s: time constant of the parameter glide.
    """

    name = "texture"
    latency = 0

    def __init__(self, engine: Engine, analysis_hop_s: float = 0.5, smoothing_s: float = 0.3) -> None:
        self.engine = engine
        self.synth = synths.get(engine.slot.current.synth).eval()
        names = self.synth.param_names
        self._density, self._slope_index = names.index("density"), names.index("slope")
        self._slope = self.synth.params[self._slope_index]
        sr, bs = engine.sample_rate, engine.block_size
        self.smoother = ParamSmoother(self.synth.n_params, sr, bs, smoothing_s)
        self.smoother.set_default(np.array([s.to_unit(s.default_value) for s in self.synth.params]))
        self.granular = GranularVoice(sr, bs, self._grain_amplitudes, seed=engine.seed)
        self._level = 0.0  # smoothed input RMS driving the texture level
        self._hop = max(bs, int(analysis_hop_s * sr))
        self._next_analysis = max(bs, int(MIN_HEARD_S * sr))
        self._theta: np.ndarray | None = None  # smoothed θ of the current block

    def process(self, x: np.ndarray, t0: int, model: LoadedModel) -> None:
        """Track the input level, start an analysis every hop, glide θ one block and tell the sinks."""
        eng = self.engine
        self._level += 0.05 * (float(np.sqrt(np.mean(x**2))) - self._level)
        if eng.t >= self._next_analysis:
            self._next_analysis += self._hop
            start = eng.t - eng.window
            heard = eng.window_at(max(start, 0), min(eng.t, eng.window))
            eng.jobs.submit(lambda: self._analyse(model, start, heard))
        theta = self.smoother.step()
        self._theta = theta
        if not self.smoother.primed:
            return  # sinks get θ̂ from the first analysis on; the voice plays the default meanwhile
        params = eng.physical(theta)
        for sink in eng.sinks:
            if isinstance(sink, ParamSink):
                eng.call(sink.on_params, t0, theta.copy(), params)

    def _analyse(self, model: LoadedModel, start: int, heard: np.ndarray) -> Callable[[], None] | None:
        """Job: θ̂ of the window starting at ``start`` from its ``heard`` samples (the whole window, or
        the part after the first input sample); the closure records the frame and retargets θ."""
        eng = self.engine
        watch = Stopwatch()
        rms = float(np.sqrt(np.mean(heard.astype(np.float64) ** 2)))
        if rms < SILENCE_RMS:
            return None
        theta = model.infer(window_for_encoder(resample(heard, eng.sample_rate, model.sample_rate),
                                               model.window))
        timings = {"inference": watch.lap()}
        eng.tap(start, theta, model)
        velocity = float(np.clip((20 * np.log10(rms) + 60.0) / 60.0, 0.0, 1.0))
        event = HitEvent(eng.new_hit_id(), start, velocity, theta, eng.physical(theta), 0, True)

        def finish() -> None:
            eng.emit(event, timings, notify=False)
            self.smoother.set_target(theta)

        return finish

    def render_into(self, out: np.ndarray) -> None:
        """Add one block of texture at the current (density, slope) and input level."""
        if self._theta is not None and self._level > 0.0:
            slope = float(self._slope.to_physical(float(self._theta[self._slope_index])))
            self.granular.render_into(out, float(self._theta[self._density]), slope, self._level)

    def _grain_amplitudes(self, density: float) -> np.ndarray:
        """The granular synth's grain amplitudes (K,) at a density in [0, 1]."""
        with torch.no_grad():
            return self.synth.amplitudes(torch.tensor([density], dtype=torch.float32))[0].numpy()


def window_for_encoder(heard: np.ndarray, window: int) -> np.ndarray:
    """The encoder's input (window,) from the heard part (N ≤ window,) of a texture window at the model's
    rate: repeated to fill the window when shorter, scaled to unit L2 norm like the synth's clips."""
    x = np.asarray(heard, dtype=np.float32)
    if x.size < window:
        x = np.resize(x, window)  # the heard part, repeated
    x = x[-window:]
    return (x / max(float(np.linalg.norm(x.astype(np.float64))), 1e-12)).astype(np.float32)


class ParamSmoother:
    """One-pole smoothing of θ toward the latest target, advanced once per block.

    ``time_constant_s`` is the time to cover 63 % of a step; keeps parameter jumps from clicking.
    """

    def __init__(
        self, n_params: int, sample_rate: int, block_size: int, time_constant_s: float = 0.3
    ) -> None:
        if time_constant_s <= 0:
            raise ValueError(f"time_constant_s must be positive, got {time_constant_s}")
        self.alpha = float(1.0 - np.exp(-block_size / (time_constant_s * sample_rate)))
        self.value = np.full(n_params, 0.5, dtype=np.float32)
        self.target = self.value.copy()
        self.primed = False

    def set_default(self, theta: np.ndarray) -> None:
        """Start value (U,) before the first target (the first target still replaces it at once)."""
        np.copyto(self.value, theta)
        np.copyto(self.target, theta)

    def set_target(self, theta: np.ndarray) -> None:
        """New target θ (U,); the first target is taken at once (no glide from the initial guess)."""
        np.copyto(self.target, theta)
        if not self.primed:
            np.copyto(self.value, theta)
            self.primed = True

    def step(self) -> np.ndarray:
        """Advance one block; returns the current smoothed θ (a view, do not modify)."""
        self.value += self.alpha * (self.target - self.value)
        return self.value


_FREE = np.iinfo(np.int64).min  # marks a free grain slot


class GranularVoice:
    """Streaming chirplet texture driven by the current (density, slope) of the granular synth.

    The batch synth scatters 64 grains of ``grain_s`` over its clip with amplitudes a_k set by density
    (``amplitudes(density) -> (64,)``, the synth's own law), so a density means a number of audible
    grains, n = (Σa)²/Σa² of the 64.  Here audible grains start at that rate (``rate_hz``·n/64) on a
    jittered regular schedule (intervals ×[0.75, 1.25]) with amplitude sqrt(Σa²/n), which keeps the
    synth's power; a Poisson schedule would leave gaps and clumps that a listener hears as pulsing.
    Each grain takes a log-uniform f0 in [f_lo, f_hi] and the current slope γ (oct/s):
    ``sin(2π f0 (2^(γt) - 1)/(γ ln 2)) · hann · a_k / sqrt(f0)``, t centred on the grain.  The output
    level follows ``level`` (an RMS target, e.g. the input's) through a smoothed gain computed from the
    texture's expected power at the current density (not from the measured output: a measured level
    swings with every grain envelope, and dividing by it in a gap between grains blows the gain up).
    """

    def __init__(self, sample_rate: int, block_size: int, amplitudes: Callable[[float], np.ndarray],
                 grain_s: float = 0.5, rate_hz: float = 64 / 3.5, f_lo: float = 256.0, f_hi: float = 2048.0,
                 max_grains: int = 32, seed: int = 0) -> None:
        self.amplitudes = amplitudes
        self.sr, self.block = int(sample_rate), int(block_size)
        self.grain_len = int(round(grain_s * sample_rate))
        self.rate, self.f_lo, self.f_hi = float(rate_hz), float(f_lo), float(f_hi)
        self._rng = np.random.default_rng(seed)
        self._start = np.full(max_grains, _FREE, dtype=np.int64)  # age origin (absolute sample, may be < 0)
        self._f0 = np.zeros(max_grains)
        self._gamma = np.zeros(max_grains)
        self._amp = np.zeros(max_grains)
        self._n = np.arange(block_size, dtype=np.float64)
        self._scratch = np.zeros(block_size, dtype=np.float64)
        self._t = 0
        self._next = -self.grain_len  # next grain start: the schedule starts as if it had been running
        self._gain = 0.0
        # E[1/f0] for f0 log-uniform in [f_lo, f_hi]; grain amplitudes go as a_k / sqrt(f0).
        self._inv_f0_mean = (1.0 / self.f_lo - 1.0 / self.f_hi) / np.log(self.f_hi / self.f_lo)

    def audible(self, density: float) -> tuple[float, float]:
        """(audible grains n of the synth's 64 at ``density``, amplitude of each of them)."""
        return _audible(self.amplitudes(density).astype(np.float64))

    def _spawn(self, end: int, amps: np.ndarray, gamma: float) -> None:
        """Start every grain scheduled before absolute sample ``end``; amps: the grain amplitudes (K,)."""
        n, amp = _audible(amps)
        interval = self.sr * amps.size / (self.rate * n)
        while self._next < end:
            free = np.flatnonzero(self._start == _FREE)
            if self._next + self.grain_len > self._t and free.size:
                g = int(free[0])
                self._start[g] = self._next
                self._f0[g] = self.f_lo * (self.f_hi / self.f_lo) ** self._rng.random()
                self._gamma[g] = gamma
                self._amp[g] = amp
            self._next += max(1, int(round(interval * self._rng.uniform(0.75, 1.25))))

    def expected_rms(self, density: float) -> float:
        """Long-run RMS of the raw grain sum at ``density``."""
        return self._expected_rms(self.amplitudes(density).astype(np.float64))

    def _expected_rms(self, amps: np.ndarray) -> float:
        """Long-run RMS of the raw grain sum: overlap × E[a²] × E[1/f0] × ½ (sine) × ⅜ (hann²)."""
        overlap = self.rate * self.grain_len / self.sr
        power = overlap * float(np.mean(amps**2)) * self._inv_f0_mean * 0.5 * 0.375
        return float(np.sqrt(max(power, 1e-12)))

    def render_into(self, out: np.ndarray, density: float, gamma: float, level: float) -> None:
        """Add one block (len(out) == block_size) of texture to ``out`` in place.

        density ∈ [0, 1]; gamma: chirp slope in octaves/s; level: target output RMS (0 fades out).
        """
        n = out.shape[0]
        amps = self.amplitudes(density).astype(np.float64)  # once per block: the synth's law is a torch call
        self._spawn(self._t + n, amps, gamma)
        acc = self._scratch[:n]
        acc.fill(0.0)
        half = self.grain_len / 2
        for g in np.flatnonzero(self._start != _FREE):
            age = self._t - self._start[g] + self._n[:n]  # samples since the grain started
            live = (age >= 0) & (age < self.grain_len)
            t = (age - half) / self.sr
            gam = self._gamma[g] if abs(self._gamma[g]) > 1e-6 else 1e-6
            phase = 2 * np.pi * self._f0[g] * (np.exp2(gam * t) - 1.0) / (gam * np.log(2.0))
            env = np.sin(np.pi * age / self.grain_len) ** 2 * live
            acc += np.sin(phase) * env * (self._amp[g] / np.sqrt(self._f0[g]))
            if self._t + n - self._start[g] >= self.grain_len:
                self._start[g] = _FREE
        target = level / self._expected_rms(amps)
        self._gain = target if self._gain == 0.0 else self._gain + 0.05 * (target - self._gain)
        out += (acc * self._gain).astype(np.float32)
        self._t += n


def _audible(amps: np.ndarray) -> tuple[float, float]:
    """(audible grains n = (Σa)²/Σa² of the amplitudes (K,), amplitude sqrt(Σa²/n) of each)."""
    s1, s2 = float(amps.sum()), float((amps**2).sum())
    n = s1 * s1 / max(s2, 1e-12)
    return n, float(np.sqrt(s2 / n))
