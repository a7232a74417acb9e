"""Streaming onset detector: log-magnitude spectral flux with an adaptive (median) threshold.

Frames of ``n_fft`` samples every ``hop`` samples; flux = mean over bins of the half-wave rectified
increase of ``log1p(gain·|X|)``.  The log makes the flux depend on level *ratios*, so a hit at −40 dBFS
stands out from −60 dBFS noise as clearly as a loud one does.  A frame is an onset when its flux is
a local maximum (one frame of look-ahead), exceeds ``delta + ratio·median(recent flux)`` and comes at
least ``min_interval_s`` after the previous onset.  The reported time is refined in the time domain to
the first sample where the hit's envelope rises above the local background.
"""

from __future__ import annotations

import numpy as np


def _band_matrix(n_fft: int, sample_rate: int, n_bands: int) -> np.ndarray:
    """(n_bands, n_fft//2+1) 0/1 matrix grouping FFT bins into log-spaced bands from 40 Hz to Nyquist."""
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    edges = np.geomspace(40.0, sample_rate / 2, n_bands + 1)
    edges[0] = 0.0
    idx = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, n_bands - 1)
    mat = np.zeros((n_bands, freqs.size), dtype=np.float32)
    mat[idx, np.arange(freqs.size)] = 1.0
    return mat[mat.sum(axis=1) > 0]


class OnsetDetector:
    """Feed blocks of any size with :meth:`process`; get back absolute onset sample indices."""

    def __init__(
        self,
        sample_rate: int,
        n_fft: int = 512,
        hop: int = 128,
        gain: float = 30.0,
        delta: float = 0.12,
        ratio: float = 2.0,
        median_s: float = 0.25,
        min_interval_s: float = 0.04,
        n_bands: int = 24,
    ) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if hop <= 0 or n_fft < hop or n_fft & (n_fft - 1):
            raise ValueError(f"need a power-of-two n_fft >= hop > 0, got n_fft={n_fft}, hop={hop}")
        self.sample_rate, self.n_fft, self.hop = int(sample_rate), int(n_fft), int(hop)
        self.gain, self.delta, self.ratio = float(gain), float(delta), float(ratio)
        self.min_interval = int(round(min_interval_s * sample_rate))
        self._window = np.hanning(n_fft).astype(np.float32)
        self._bands = _band_matrix(n_fft, sample_rate, n_bands)
        self._n_median = max(3, int(round(median_s * sample_rate / hop)))
        self.reset()

    def reset(self) -> None:
        """Forget all history (as if no sample had been seen)."""
        self._hist = np.zeros(4 * self.n_fft, dtype=np.float32)  # last 4·n_fft samples, newest at the end
        self._pending = 0  # samples received since the last frame
        self._t = 0  # absolute index of the next incoming sample
        self._prev_mag = np.zeros(self._bands.shape[0], dtype=np.float32)
        self._flux = np.zeros(self._n_median, dtype=np.float32)  # recent flux values (circular)
        self._n_frames = 0
        self._cand: tuple[float, float] | None = None  # (flux, threshold) of the previous frame
        self._prev_flux_before = 0.0  # flux of the frame before the candidate
        self._last_onset = -(10**12)

    def _frame_flux(self, frame: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(frame * self._window)) ** 2
        mag = np.log1p(self.gain * np.sqrt(self._bands @ power)).astype(np.float32)
        # SuperFlux-style: compare with the previous frame max-filtered over neighbouring bands, so a
        # falling pitch (808 kick sweep) moving energy to the next band does not count as a new onset
        prev = self._prev_mag
        ref = np.maximum(prev, np.maximum(np.roll(prev, 1), np.roll(prev, -1)))
        flux = float(np.maximum(mag - ref, 0.0).mean())
        self._prev_mag = mag
        return flux

    def _refine(self, end: int) -> int:
        """Onset sample of a hit seen in the frame ending at absolute index ``end`` (time-domain search)."""
        blk = 16
        n_seg = self.n_fft + self.hop
        seg_start = end + self.hop - n_seg
        mag = np.abs(self._hist)
        env = mag[-n_seg:].reshape(-1, blk).max(axis=1)
        background = float(mag[:-n_seg].max())  # > one period of 50 Hz: the peak level of what was there
        peak = float(env.max())
        level = background + 0.1 * (peak - background)
        idx = int(np.argmax(env > level))
        return seg_start + idx * blk

    def process(self, block: np.ndarray) -> list[int]:
        """Consume ``block`` (n,) float32 at ``sample_rate``; return absolute onset sample indices found."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        onsets: list[int] = []
        pos = 0
        while pos < x.size:
            take = min(self.hop - self._pending, x.size - pos)
            self._hist[:-take] = self._hist[take:]
            self._hist[-take:] = x[pos : pos + take]
            pos += take
            self._pending += take
            self._t += take
            if self._pending < self.hop:
                continue
            self._pending = 0
            flux = self._frame_flux(self._hist[-self.n_fft :])
            recent = self._flux[: min(self._n_frames, self._n_median)]
            median = float(np.median(recent)) if recent.size else 0.0
            thr = self.delta + self.ratio * median
            # the previous frame is an onset if it peaked above its threshold and this frame is lower
            if self._cand is not None:
                c_flux, c_thr = self._cand
                if c_flux > c_thr and c_flux >= flux and c_flux > self._prev_flux_before:
                    onset = self._refine(self._t - self.hop)
                    if onset - self._last_onset >= self.min_interval:
                        onsets.append(onset)
                        self._last_onset = onset
            self._prev_flux_before = self._cand[0] if self._cand is not None else 0.0
            self._cand = (flux, thr)
            self._flux[self._n_frames % self._n_median] = flux
            self._n_frames += 1
        return onsets
