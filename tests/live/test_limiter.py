"""The output limiter scales, never flattens: below the ceiling, shape kept, back to unity gain later."""

from __future__ import annotations

import numpy as np
import pytest

from scrapl_live.live.limiter import OutputLimiter

SR = 48000


def _run(limiter: OutputLimiter, x: np.ndarray, block: int = 256) -> tuple[np.ndarray, list[bool]]:
    y, first = x.copy(), []
    for i in range(0, x.size, block):
        first.append(limiter.process(y[i : i + block]))
    return y, first


def test_loud_output_is_scaled_below_the_ceiling_not_clipped() -> None:
    t = np.arange(SR) / SR
    x = (2.5 * np.sin(2 * np.pi * 110 * t) * np.exp(-3 * t)).astype(np.float32)  # +8 dBFS, decaying
    limiter = OutputLimiter(SR)
    y, first = _run(limiter, x)
    assert np.abs(y).max() <= limiter.ceiling + 1e-6
    assert first.count(True) == 1  # one warning for the run
    touch = np.abs(y) >= limiter.ceiling * (1 - 1e-6)
    clipped = np.abs(np.clip(x, -limiter.ceiling, limiter.ceiling)) >= limiter.ceiling * (1 - 1e-6)
    # the sine's own crests touch the ceiling (a sample or two where the sine is flat to 1e-4), a clipper
    # flattens whole stretches of each half-cycle
    assert 0 < touch.sum() < 0.1 * clipped.sum() and not np.any(touch[2:] & touch[1:-1] & touch[:-2])
    gain = y / np.where(np.abs(x) > 1e-3, x, np.nan)  # the applied gain, sample by sample
    ok = np.isfinite(gain)
    assert np.all(gain[ok] > 0) and np.all(gain[ok] <= 1 + 1e-6)  # same sign, only ever attenuated
    # the recursion sample by sample: g[n] = min(0, a[n], g[n-1] + release) in dB, a[n] the lowest
    # need[k] for k >= n in n's block
    need = np.minimum(20 * np.log10(limiter.ceiling / np.maximum(np.abs(x.astype(np.float64)), 1e-30)), 0)
    g, ref = 0.0, np.empty(x.size)
    for n in range(x.size):
        g = min(need[n : (n // 256 + 1) * 256].min(), g + 60.0 / SR, 0.0)
        ref[n] = g
    np.testing.assert_allclose(y, x * 10 ** (ref / 20), atol=2e-6)
    assert limiter.max_reduction_db == pytest.approx(-ref.min(), abs=1e-5)  # (float32 input)
    assert ref[-1] == 0.0 and y[-256:] == pytest.approx(x[-256:])  # back to unity once the overshoot passed


def test_quiet_output_is_untouched() -> None:
    x = (0.5 * np.random.default_rng(0).uniform(-1, 1, SR)).astype(np.float32)
    limiter = OutputLimiter(SR)
    y, first = _run(limiter, x)
    np.testing.assert_array_equal(y, x)
    assert not any(first) and limiter.limited_samples == 0
