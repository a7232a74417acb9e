"""Voices the engine mixes into its output: polyphonic one-shots (tr808) and a streaming granular texture.

Both are preallocated at construction and render block by block with in-place numpy operations, so
the per-block cost is small and constant; they run on the engine's worker thread.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


class OneShotMixer:
    """Up to ``max_voices`` one-shots of at most ``max_len`` samples playing at once.

    A new hit takes a free slot, or steals the voice closest to its end (a short fade-out avoids a click).
    """

    def __init__(self, max_voices: int = 8, max_len: int = 48000, fade: int = 64) -> None:
        if max_voices < 1 or max_len < 1:
            raise ValueError(f"max_voices and max_len must be >= 1, got {max_voices}, {max_len}")
        self.max_voices, self.max_len, self.fade = int(max_voices), int(max_len), int(fade)
        self._buf = np.zeros((max_voices, max_len), dtype=np.float32)
        self._len = np.zeros(max_voices, dtype=np.int64)  # samples in each slot
        self._pos = np.zeros(max_voices, dtype=np.int64)  # next sample to play; == len when idle
        self._ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
        self._owner = np.zeros(max_voices, dtype=np.int64)  # token of the voice in each slot
        self._token = 0
        self.stolen = 0
        self.late_tails = 0  # extensions that came after their head had finished playing (a gap)

    @property
    def active(self) -> int:
        """Number of voices still sounding."""
        return int(np.count_nonzero(self._pos < self._len))

    def trigger(self, audio: np.ndarray, gain: float = 1.0, final: bool = True) -> tuple[int, int]:
        """Start playing ``audio`` (n,) at the next mixed block; returns (slot, token) for :meth:`extend`.

        final=False: ``audio`` is only the head of the voice (no fade-out); the rest follows by ``extend``.
        """
        free = np.flatnonzero(self._pos >= self._len)
        if free.size:
            slot = int(free[0])
        else:
            slot = int(np.argmin(self._len - self._pos))
            self.stolen += 1
        n = min(int(audio.shape[-1]), self.max_len)
        np.multiply(audio[:n], gain, out=self._buf[slot, :n])
        self._len[slot], self._pos[slot] = n, 0
        self._token += 1
        self._owner[slot] = self._token
        if final:
            self._fade_end(slot)
        return slot, self._token

    def extend(self, slot: int, token: int, audio: np.ndarray, gain: float = 1.0) -> bool:
        """Append ``audio[len:]`` to the voice started with (slot, token), where ``audio`` is the full voice.

        Returns False (and does nothing) when the slot has been given to another voice meanwhile.
        """
        if self._owner[slot] != token:
            return False
        start = int(self._len[slot])
        if self._pos[slot] >= start:
            self.late_tails += 1
        n = min(int(audio.shape[-1]), self.max_len)
        if n > start:
            np.multiply(audio[start:n], gain, out=self._buf[slot, start:n])
            self._len[slot] = n
        self._fade_end(slot)
        return True

    def _fade_end(self, slot: int) -> None:
        n = int(self._len[slot])
        if n > self.fade:
            self._buf[slot, n - self.fade : n] *= self._ramp

    def mix_into(self, out: np.ndarray) -> None:
        """Add the next len(out) samples of every active voice to ``out`` (frames,) in place."""
        frames = out.shape[0]
        for slot in np.flatnonzero(self._pos < self._len):
            p = int(self._pos[slot])
            n = min(frames, int(self._len[slot]) - p)
            out[:n] += self._buf[slot, p : p + n]
            self._pos[slot] = p + n

    def clear(self) -> None:
        """Silence all voices."""
        self._pos[:] = self._len


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


class GranularVoice:
    """Streaming chirplet texture driven by the current (density, slope) of the granular synth.

    The batch synth scatters 64 grains of ``grain_s`` over its clip with amplitudes set by density
    (``amplitudes(density) -> (64,)``, the synth's own law); here grains start as a Poisson process of
    the same mean rate, each taking the amplitude of a uniformly drawn grain index, a log-uniform f0 in
    [f_lo, f_hi] and the current slope γ (oct/s):
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
        self._start = np.full(max_grains, -1, dtype=np.int64)  # age origin (absolute sample), -1 = free
        self._f0 = np.zeros(max_grains)
        self._gamma = np.zeros(max_grains)
        self._amp = np.zeros(max_grains)
        self._n = np.arange(block_size, dtype=np.float64)
        self._scratch = np.zeros(block_size, dtype=np.float64)
        self._t = 0
        self._gain = 0.0
        # E[1/f0] for f0 log-uniform in [f_lo, f_hi]; grain amplitudes go as a_k / sqrt(f0).
        self._inv_f0_mean = (1.0 / self.f_lo - 1.0 / self.f_hi) / np.log(self.f_hi / self.f_lo)

    def _spawn(self, at: int, density: float, gamma: float) -> None:
        free = np.flatnonzero(self._start < 0)
        if not free.size:
            return
        g = int(free[0])
        self._start[g] = at
        self._f0[g] = self.f_lo * (self.f_hi / self.f_lo) ** self._rng.random()
        self._gamma[g] = gamma
        amps = self.amplitudes(density)
        self._amp[g] = float(amps[self._rng.integers(amps.size)])

    def expected_rms(self, density: float) -> float:
        """Long-run RMS of the raw grain sum: overlap × E[a²] × E[1/f0] × ½ (sine) × ⅜ (hann²)."""
        overlap = self.rate * self.grain_len / self.sr
        power = overlap * float(np.mean(self.amplitudes(density) ** 2)) * self._inv_f0_mean * 0.5 * 0.375
        return float(np.sqrt(max(power, 1e-12)))

    def render_into(self, out: np.ndarray, density: float, gamma: float, level: float) -> None:
        """Add one block (len(out) == block_size) of texture to ``out`` in place.

        density ∈ [0, 1]; gamma: chirp slope in octaves/s; level: target output RMS (0 fades out).
        """
        n = out.shape[0]
        for offset in np.flatnonzero(self._rng.random(n) < self.rate / self.sr):
            self._spawn(self._t + int(offset), density, gamma)
        acc = self._scratch[:n]
        acc.fill(0.0)
        half = self.grain_len / 2
        for g in np.flatnonzero(self._start >= 0):
            age = self._t - self._start[g] + self._n[:n]  # samples since the grain started
            live = (age >= 0) & (age < self.grain_len)
            t = (age - half) / self.sr
            gam = self._gamma[g] if abs(self._gamma[g]) > 1e-6 else 1e-6
            phase = 2 * np.pi * self._f0[g] * (np.exp2(gam * t) - 1.0) / (gam * np.log(2.0))
            env = np.sin(np.pi * age / self.grain_len) ** 2 * live
            acc += np.sin(phase) * env * (self._amp[g] / np.sqrt(self._f0[g]))
            if self._t + n - self._start[g] >= self.grain_len:
                self._start[g] = -1
        self._gain += 0.05 * (level / self.expected_rms(density) - self._gain)
        out += (acc * self._gain).astype(np.float32)
        self._t += n
