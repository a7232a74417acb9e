"""Streaming onset detector: a three-band energy follower against a falling peak hold.

Why not spectral flux: a flux frame needs hundreds of samples, so a hit is known only 5-10 ms after its
attack, and the flux of a hit's own decay (a kick's pitch sweep, a clap's bursts) retriggers.  Here each
band — the whole signal (high-passed at 30 Hz), its part above ``high_hz`` (where a hat struck over a
ringing kick stands out) and below ``low_hz`` (a kick under a cymbal) — is squared and averaged over
short frames (``frame_s``, one every ``hop_s``).  A frame's level (dB) is compared with a peak hold of
the band's levels from ``lag_s`` earlier on, falling by ``release_db_per_s``: a hit's own decay stays
under the held peak; a new hit rises above it by ``threshold_db`` within ``lag_s`` of its attack.  The
lag is long enough (5 ms) for a soft hit over a ringing one, whose level climbs over a few ms as its
energy builds over the ring, to count in full; in the low band it is ``low_lag_s`` (1.5 ms), as a
frame of a band below ``low_hz`` holds few cycles and its level wobbles by tens of dB from frame to
frame on a noise floor (a long lag there lets that wobble pass as hits).
Before the stream's first frames the hold has no history: it starts at ``start_floor_db``, the
loudest noise floor a stream is taken to open on, so a file or input that opens on its noise floor
gives no hit while a one-shot whose attack is at sample 0 (louder than ``start_floor_db +
threshold_db``) does; within a few frames the stream's own levels take over.  A
band counts only above ``floor_db`` and within ``band_range_db`` of the whole signal.  After a trigger
the detector is deaf for ``min_interval_s``.

The reported onset is the attack start, found in the triggering band's samples: the first sample of the
run of samples (gaps ≤ ``gap_s``) that leads up to the hit's peak within ``search_s`` and stands above
the background (the peak of the ``background_s`` before) by ``attack_frac`` of the way to that peak.
State is a few arrays of fixed size; any block size gives the same onsets.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import butter, lfilter

_EPS_DB = -120.0  # level of digital silence (dB re full-scale power)


class OnsetDetector:
    """Feed blocks of any size with :meth:`process`; get back absolute onset sample indices.

    Delay: the returned index is the hit's attack start, in the past.  The hit is returned with the
    block holding the first frame end (every ``hop_s``) at which it stands ``threshold_db`` above the
    held peak: about one hop after the attack for a sharp hit well above what rings on, a few ms for a
    soft or slowly rising one.  Measured on real drums (``benchmarks/bench_onset.py``, 64-sample blocks,
    so including up to one block of waiting): p50 1.4 ms, p95 3.3 ms after the true onset.  An onset
    is never returned more than :attr:`max_delay_samples` after it, plus the rest of its block: a
    caller that keeps that much history has every hit's first samples.

    Dense playing: a hit Δt after the last loud frame of a louder one is found only above that frame's
    level minus ``release_db_per_s``·Δt plus ``threshold_db``, however fast the louder one died away (a
    ghost note 125 ms after a 20 ms accent must be within ~6 dB of it); over a ring it must rise
    ``threshold_db`` above the ring within ``lag_s``.  A faster, or measured-decay, release and a lower
    threshold measured more dense recall but retriggers in decays (``benchmarks/bench_dense.py``,
    docs/benchmarks.md).
    """

    def __init__(
        self,
        sample_rate: int,
        hop_s: float = 0.0007,
        frame_s: float = 0.0015,
        threshold_db: float = 9.3,
        release_db_per_s: float = 150.0,
        lag_s: float = 0.005,
        low_lag_s: float = 0.0015,
        floor_db: float = -80.0,
        band_range_db: float = 30.0,
        min_interval_s: float = 0.04,
        high_hz: float = 3000.0,
        low_hz: float = 200.0,
        search_s: float = 0.006,
        background_s: float = 0.025,
        attack_frac: float = 0.05,
        gap_s: float = 0.002,
        start_floor_db: float = -60.0,
    ) -> None:
        if not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
        sr = int(sample_rate)
        self.sample_rate = sr
        self.hop = max(1, round(hop_s * sr))
        self.n_frame = max(1, round(frame_s * sr / self.hop))  # hops per level frame
        self.threshold_db, self.floor_db = float(threshold_db), float(floor_db)
        self.band_range_db = float(band_range_db)
        # hops between a frame and its reference, per band (whole, high, low)
        self.lags = np.array([max(1, round(v * sr / self.hop)) for v in (lag_s, lag_s, low_lag_s)])
        self.release = release_db_per_s * self.hop / sr  # dB per hop
        self.min_interval = round(min_interval_s * sr)
        self.search = round(search_s * sr)
        self.background = round(background_s * sr)
        self.attack_frac, self.gap = float(attack_frac), max(1, round(gap_s * sr))
        self.start_floor_db = float(start_floor_db)
        if high_hz >= sr / 2:
            raise ValueError(f"high_hz must be below Nyquist ({sr / 2} Hz), got {high_hz}")
        self._filters = [butter(2, 30.0, "highpass", fs=sr), butter(2, high_hz, "highpass", fs=sr),
                         butter(2, low_hz, "lowpass", fs=sr)]
        self._ramp = self.release * np.arange(8192 // self.hop + 2)
        self.reset()

    @property
    def max_delay_samples(self) -> int:
        """Bound on (end of the frame that triggers a hit) − (the onset returned for it): the search span."""
        return self.search

    def reset(self) -> None:
        """Forget all history (as if no sample had been seen)."""
        n_bands = len(self._filters)
        self._zi = [np.zeros(2) for _ in self._filters]
        self._keep = self.search + self.background + self.hop
        self._buf = np.zeros((n_bands, self._keep))  # band signals of the last _keep samples
        self._hop_energy = np.zeros((n_bands, self.n_frame - 1))  # the last n_frame-1 hop energies
        # the last max(lags) frame levels (dB); the unseen past before the stream is a floor at start_floor_db
        self._levels = np.full((n_bands, int(self.lags.max())), self.start_floor_db)
        self._ref = np.full(n_bands, _EPS_DB)  # the peak hold at the last frame (dB)
        self._t = 0  # absolute index of the next incoming sample
        self._last = -(10**12)  # sample index of the last trigger

    def process(self, block: np.ndarray) -> list[int]:
        """Consume ``block`` (n,) float at ``sample_rate``; return the onsets found, ascending."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        onsets: list[int] = []
        for i in range(0, x.size, 8192):  # bounded work arrays for a whole file passed at once
            onsets += self._process(x[i : i + 8192])
        return onsets

    def flush(self) -> list[int]:
        """End of the stream: complete the last hop with silence, return its onsets, then :meth:`reset`."""
        rest = (-self._t) % self.hop
        onsets = self._process(np.zeros(rest)) if rest else []
        self.reset()
        return onsets

    def _process(self, x: np.ndarray) -> list[int]:
        n, t0 = x.size, self._t
        n_bands = len(self._filters)
        y = np.empty((n_bands, n))
        for b, (num, den) in enumerate(self._filters):
            y[b], self._zi[b] = lfilter(num, den, x, zi=self._zi[b])
        buf = np.concatenate([self._buf, y], axis=1)  # buf[:, j] is sample t0 - _keep + j
        self._buf = buf[:, -self._keep :]
        self._t = t0 + n
        first = (t0 // self.hop + 1) * self.hop  # frames end at multiples of hop
        ends = np.arange(first, self._t + 1, self.hop)
        if ends.size == 0:
            return []
        base = t0 - self._keep
        seg = buf[:, ends[0] - self.hop - base : ends[-1] - base]
        n_f = ends.size
        hop_e = np.concatenate([self._hop_energy, np.square(seg).reshape(n_bands, n_f, self.hop).sum(axis=2)],
                               axis=1)
        self._hop_energy = hop_e[:, n_f:]
        energy = hop_e[:, self.n_frame - 1 :].copy()
        for k in range(1, self.n_frame):
            energy += hop_e[:, self.n_frame - 1 - k : hop_e.shape[1] - k]
        energy /= self.n_frame * self.hop
        level = 10.0 * np.log10(energy + 10 ** (_EPS_DB / 10))  # (B, F) dB
        hist = np.concatenate([self._levels, level], axis=1)  # frame j of this block at hist[:, L + j]
        n_hist = self._levels.shape[1]
        self._levels = hist[:, n_f:]
        lagged = hist[np.arange(n_bands)[:, None], (n_hist - self.lags)[:, None] + np.arange(n_f)]
        # peak hold of each band's levels `lags[b]` frames back, falling by `release` per frame:
        # ref[j] = max(ref_before - release·(j+1), max_i≤j lagged[i] - release·(j-i))
        ramp = self._ramp[:n_f]
        held = np.maximum.accumulate(lagged + ramp, axis=1) - ramp
        ref = np.maximum(held, self._ref[:, None] - self._ramp[1 : n_f + 1])
        self._ref = ref[:, -1].copy()
        # a band counts where it is loud enough to hear: above the floor, and within band_range_db of the
        # whole signal (a cut sine's click above 3 kHz is no hit)
        live = (level >= self.floor_db) & (level >= level[0] - self.band_range_db)
        margin = np.where(live, level - ref - self.threshold_db, -np.inf)
        onsets = []
        for j in np.flatnonzero(margin.max(axis=0) >= 0.0):
            end = int(ends[j])
            if end - self._last < self.min_interval:
                continue
            self._last = end
            band = int(margin[:, j].argmax())
            onsets.append(self._attack(buf[band, : end - base], end))
        return onsets

    def _attack(self, y: np.ndarray, end: int) -> int:
        """Attack start of the hit triggered by the frame ending at ``end``; y: band samples up to it."""
        a = np.abs(y[-(self.search + self.background) :])
        bg, seg = a[: -self.search].max(), a[-self.search :]
        peak = int(seg.argmax())
        # a hit whose energy rose without a higher sample peak than the background's: a share of its peak
        thr = bg + self.attack_frac * (seg[peak] - bg) if seg[peak] > bg else self.attack_frac * seg[peak]
        above = np.flatnonzero(seg[: peak + 1] > thr)
        breaks = np.flatnonzero(np.diff(above) > self.gap)
        start = int(above[breaks[-1] + 1]) if breaks.size else int(above[0])
        return max(end - self.search + start, 0)
