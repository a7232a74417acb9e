"""Output peak limiter: the engine's output never exceeds ``ceiling`` and is never hard-clipped.

No look-ahead beyond the block being processed (a live engine cannot wait), so no added latency.
``need[k]`` is the gain (dB) that brings sample k to the ceiling; within a block the gain at sample n
already takes the block's later samples into account (``a[n] = min over k >= n of need[k]``), so the
gain is constant up to the block's loudest overshoot and that sample alone touches the ceiling — the
waveform is scaled, not flattened.  Across blocks the gain recovers at ``release_db_s``:
``g[n] = min(0, a[n], g[n - 1] + release)``, computed for the whole block with running minima.  A voice
louder than full scale comes out quieter with its shape intact and returns to unity gain once the
overshoot has passed.
"""

from __future__ import annotations

import numpy as np


class OutputLimiter:
    """In-place limiter for blocks of float32 audio at ``sample_rate``.

    ceiling: peak level (linear) the output never exceeds (just below the 0.999 that counts as clipped);
    release_db_s: gain recovery speed in dB per second.
    """

    def __init__(self, sample_rate: int, ceiling: float = 0.98, release_db_s: float = 60.0) -> None:
        if not 0.0 < ceiling <= 1.0 or release_db_s <= 0:
            raise ValueError(f"need 0 < ceiling <= 1 and release_db_s > 0, got {ceiling}, {release_db_s}")
        self.ceiling = float(ceiling)
        self._release = release_db_s / sample_rate  # dB per sample
        self._gain_db = 0.0  # gain after the last sample
        self.limited_samples = 0  # samples output with gain < 1
        self.max_reduction_db = 0.0
        self._warned = False

    def process(self, out: np.ndarray) -> bool:
        """Limit ``out`` (frames,) in place; True the first time the limiter ever engages (warn once)."""
        peak = float(np.max(np.abs(out))) if out.size else 0.0
        if self._gain_db >= 0.0 and peak <= self.ceiling:
            return False  # the common case: unity gain, nothing to do
        n = np.arange(1, out.size + 1, dtype=np.float64)
        with np.errstate(divide="ignore"):
            need = np.minimum(20.0 * np.log10(self.ceiling / np.maximum(np.abs(out), 1e-30)), 0.0)
        ahead = np.minimum.accumulate(need[::-1])[::-1]  # min over the block's later samples
        ramp = self._release * n
        run = np.minimum.accumulate(np.minimum(ahead - ramp, self._gain_db))  # min_k (a[k] - k·release)
        gain_db = np.minimum(run + ramp, 0.0)
        out *= (10.0 ** (gain_db / 20.0)).astype(np.float32)
        self._gain_db = float(gain_db[-1])
        reduced = gain_db < 0.0
        self.limited_samples += int(np.count_nonzero(reduced))
        if reduced.any():
            self.max_reduction_db = max(self.max_reduction_db, float(-gain_db.min()))
        first = not self._warned and bool(np.any(need < 0.0))
        self._warned = self._warned or first
        return first
