"""Any stretch of a TR-808 voice in numpy: the low-latency renderer of live hits.

The torch :class:`synths.tr808.TR808` renders a whole one-shot in a few ms of Python-level op overhead,
too slow for the audio block in which a hit's first analysis window completes.  :class:`TR808Numpy`
renders samples ``[start, start + n)`` of the *same* voice with a handful of vectorised numpy calls
(~0.2 ms for 2048 samples): the same closed-form oscillator phases (float64), the same envelopes, the
same per-seed noise (drawn with torch's generator, whose stream is prefix-consistent) and the same
high-pass — run here as the causal IIR recursion (``scipy.signal.lfilter``) from the voice's first
sample, which the torch FFT form equals to rounding.  Everything it needs from the synth is public
API: its parameter specs, attack length, cutoff limiter, noise support and biquad design.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.signal import lfilter

from synths.biquad import highpass_coefficients
from synths.tr808 import ENV_DECAY_CONST, TR808


class TR808Numpy:
    """``render(theta (14,), seed, start, n) -> (n,) float32``: samples [start, start + n) of a voice.

    ``synth`` must play without delay (``pre_delay == 0``, ``time_shift == "micro"``), as in live mode.
    """

    def __init__(self, synth: TR808) -> None:
        if not isinstance(synth, TR808):
            raise ValueError(f"synth must be a synths.tr808.TR808, got {type(synth).__name__}")
        if synth.pre_delay != 0 or synth.time_shift != "micro":
            raise ValueError(f"synth must have pre_delay=0 and time_shift='micro', got {synth.pre_delay}, "
                             f"{synth.time_shift!r}")
        self.synth, self.n_samples, self.sample_rate = synth, synth.n_samples, synth.sample_rate
        self._lo32 = np.array([p.min for p in synth.params], np.float32)
        self._span32 = np.array([p.max - p.min for p in synth.params], np.float32)
        self._lo64 = self._lo32.astype(np.float64)
        self._span64 = np.array([p.max - p.min for p in synth.params])
        self._idx = {name: i for i, name in enumerate(synth.param_names)}
        a = synth.attack_samples
        n = np.arange(self.n_samples, dtype=np.float64)
        self._n = n
        self._m = np.maximum(n - a, 0.0)  # index into the decay part (0 during the attack)
        self._m32 = self._m.astype(np.float32)
        self._ramp = np.minimum(n / (a - 1), 1.0).astype(np.float32)  # linear attack, then 1
        na = np.minimum(n, float(a))
        self._attack_sum = na * (na - 1) / (2 * (a - 1))  # Σ_{k<n} of the attack ramp
        self._eps = float(np.finfo(np.float32).eps)
        self._gen = torch.Generator(device="cpu")

    def _noise(self, seed: int, n: int) -> np.ndarray:
        """The synth's per-seed noise (its first ``n`` samples) in [-1, 1): δ is drawn first, as there."""
        if self.synth.fixed_noise:
            return self.synth.noise[:n].numpy()
        g = self._gen.manual_seed(int(seed))
        torch.randint(-self.synth.max_shift, self.synth.max_shift + 1, (), generator=g)
        return (torch.rand(n, generator=g) * 2.0 - 1.0).numpy()

    def render(self, theta: np.ndarray, seed: int, start: int = 0, n: int = 2048) -> np.ndarray:
        """theta (14,) in [0, 1], seed → (n,) float32: ``synth(theta[None], [seed])[0, 0, start:start + n]``.

        The range is clipped to the voice's ``n_samples`` (a shorter result past its end).
        """
        th = np.asarray(theta, dtype=np.float32).reshape(-1)
        if th.shape != self._lo32.shape or not np.all(np.isfinite(th)):
            raise ValueError(f"theta must be {self._lo32.shape[0]} finite values, got shape {th.shape}")
        if start < 0 or n < 0:
            raise ValueError(f"start and n must be >= 0, got {start}, {n}")
        lo, hi = min(int(start), self.n_samples), min(int(start) + int(n), self.n_samples)
        p32 = self._lo32 + th * self._span32  # the synth's float32 physical values
        p64 = self._lo64 + th.astype(np.float64) * self._span64
        ix, sr = self._idx, self.sample_rate
        m, m32, ramp = self._m[lo:hi], self._m32[lo:hi], self._ramp[lo:hi]

        def decay(decay_ms: float, m: np.ndarray) -> tuple[np.ndarray, float]:
            c = ENV_DECAY_CONST * 1000.0 / sr / decay_ms
            return np.expm1(m * math.log1p(-c)), c

        em1_f, c_f = decay(p64[ix["freq_decay"]], m)
        pitch_sum = self._attack_sum[lo:hi] - em1_f / c_f
        y = np.zeros(hi - lo, dtype=np.float64)
        for i in (1, 2):
            w0 = (2 * math.pi / sr) * p64[ix[f"osc{i}_freq"]]
            osc = np.sin(w0 * (self._n[lo:hi] + p64[ix[f"osc{i}_mod"]] * pitch_sum)).astype(np.float32)
            em1, _ = decay(float(p32[ix[f"osc{i}_decay"]]), m32)
            y += 10.0 ** (float(p32[ix[f"osc{i}_gain"]]) / 20.0) * osc * ((1.0 + em1) * ramp)

        noise_ms = float(p32[ix["noise_decay"]])
        # the noise head the synth filters (its envelope until it falls below float32 eps), filtered from
        # the voice's first sample so that the recursion's state at ``lo`` is the synth's
        k = min(self.synth.noise_support(torch.tensor([[noise_ms]]), self._eps), hi)
        em1_n, _ = decay(noise_ms, self._m32[:k])
        noise = np.zeros(hi, dtype=np.float64)
        noise[:k] = self._noise(seed, k) * ((1.0 + em1_n) * self._ramp[:k])
        # the synth's own cutoff limit and biquad design, in float64 on one-element tensors
        freq, q = (torch.tensor([float(p32[ix[k]])], dtype=torch.float64) for k in ("noise_freq", "noise_q"))
        b, a = highpass_coefficients(self.synth.cutoff(freq), q, sr)
        noise = lfilter(b[0].numpy(), a[0].numpy(), noise)[lo:]
        if self.synth.clamp_noise:
            np.clip(noise, -1.0, 1.0, out=noise)
        y += 10.0 ** (float(p32[ix["noise_gain"]]) / 20.0) * noise
        return np.tanh(10.0 ** (float(p32[ix["tanh_gain"]]) / 20.0) * y).astype(np.float32)
