"""Dense playing: a hit right after a louder one is found exactly when it rises above the detector's
falling peak hold (closed form: the louder hit's frame level minus ``release_db_per_s`` × the time since
it entered the hold, plus ``threshold_db``), even where the louder hit has already died away; a soft hit
over a ring counts its whole rise within ``lag_s`` (a few ms), while a ring's own wobble stays under the
held peak."""

from __future__ import annotations

import numpy as np
import pytest

from scrapl_live.live.onset import OnsetDetector

SR = 44100


def _burst(seconds: float, rms: float, rng: np.random.Generator) -> np.ndarray:
    """White noise of ``rms`` (its frame level is 20·log10(rms) dB in every band), cut after ``seconds``
    with a 1 ms fade."""
    x = rng.standard_normal(int(seconds * SR)) * rms
    n = SR // 1000
    x[-n:] *= np.linspace(1.0, 0.0, n)
    return x


def _accent_then_ghost(gap_s: float, ghost_db: float, seed: int) -> tuple[np.ndarray, list[int]]:
    """An accent (RMS 0.3, 20 ms) and, ``gap_s`` after its start, a ghost ``ghost_db`` re the accent,
    over -80 dBFS noise: (audio (n,) float32, [accent onset, ghost onset])."""
    rng = np.random.default_rng(seed)
    t0, t1 = SR // 5, SR // 5 + int(gap_s * SR)
    x = rng.standard_normal(t1 + SR // 2) * 1e-4
    accent = _burst(0.020, 0.3, rng)
    ghost = _burst(0.020, 0.3 * 10 ** (ghost_db / 20), rng)
    x[t0 : t0 + accent.size] += accent
    x[t1 : t1 + ghost.size] += ghost
    return x.astype(np.float32), [t0, t1]


def _boundary_db(det: OnsetDetector, gap_s: float) -> float:
    """Ghost level (dB re the accent) above which it triggers: a band's hold takes the accent's last
    level ``lags[b]`` frames after it and falls from there, so the band with the shortest lag has fallen
    longest by the ghost's first frame."""
    fall_hops = (gap_s - 0.020) * SR / det.hop - int(det.lags.min())
    return -det.release * fall_hops + det.threshold_db


@pytest.mark.parametrize("gap_s", [0.125, 0.2, 0.3])  # 8 hits/s, 5 hits/s, a third of a second
@pytest.mark.parametrize("side_db", [-6.0, 6.0])  # below / above the closed-form boundary
def test_a_ghost_after_an_accent_is_found_above_the_falling_hold(gap_s: float, side_db: float) -> None:
    det = OnsetDetector(SR)
    ghost_db = _boundary_db(det, gap_s) + side_db
    for seed in range(3):
        x, (t0, t1) = _accent_then_ghost(gap_s, ghost_db, seed)
        found = det.process(x) + det.flush()
        assert found[0] == pytest.approx(t0, abs=0.0005 * SR), found
        if side_db > 0:
            assert len(found) == 2 and abs(found[1] - t1) <= 0.0005 * SR, (ghost_db, found)
        else:
            assert len(found) == 1, (ghost_db, found)


def test_the_boundary_is_below_the_accent_only_from_a_sixteenth_at_60_bpm() -> None:
    """The measured limit in numbers: a ghost an 8 hits/s sixteenth (125 ms) after the accent must be
    within a few dB of it; 12 hits/s (83 ms) needs it at the accent's own level."""
    det = OnsetDetector(SR)
    assert -10.0 < _boundary_db(det, 0.125) < -5.0
    assert _boundary_db(det, 1 / 12) > -1.0
    assert _boundary_db(det, 0.25) < -20.0


def _ring_then_swell(rise_db: float, ramp_s: float, seed: int) -> tuple[np.ndarray, int]:
    """A steady ring (white noise, RMS 0.01) and, 0.3 s in, a soft hit (its own white noise) whose level
    climbs linearly in dB from 30 dB under the ring to ``rise_db`` over it in ``ramp_s``, then holds
    20 ms and stops: (audio (n,) float32, the hit's start)."""
    rng = np.random.default_rng(seed)
    n, t1 = int(0.6 * SR), int(0.3 * SR)
    x = rng.standard_normal(n) * 0.01
    n_ramp, n_hold = int(ramp_s * SR), int(0.020 * SR)
    gain_db = np.concatenate([np.linspace(-30.0, rise_db, n_ramp), np.full(n_hold, rise_db)])
    x[t1 : t1 + gain_db.size] += rng.standard_normal(gain_db.size) * 0.01 * 10 ** (gain_db / 20)
    return x.astype(np.float32), t1


def _rise_within(rise_db: float, ramp_s: float, lag_s: float) -> float:
    """Closed form: the most the ring-plus-hit level (10·log10(1 + g²), g the hit's gain re the ring)
    rises within ``lag_s`` of :func:`_ring_then_swell`'s ramp (noise and frame averaging left out)."""
    t = np.linspace(0.0, ramp_s, 2000)
    gain_db = -30.0 + (rise_db + 30.0) * t / ramp_s
    level = 10 * np.log10(1 + 10 ** (gain_db / 10))
    before = 10 * np.log10(1 + 10 ** (np.maximum(gain_db - (rise_db + 30.0) * lag_s / ramp_s, -30.0) / 10))
    return float((level - before).max())


def test_a_soft_hit_rising_over_a_ring_counts_its_rise_within_the_lag() -> None:
    """A hit 14 dB over a ring, reaching it in 10 ms: it rises more than ``threshold_db`` within 5 ms
    but less within 1.5 ms (closed form), so it is found by the default 5 ms lag and missed by a
    detector whose reference is 1.5 ms back in every band; 6 dB over the ring it is missed by both."""
    det, short = OnsetDetector(SR), OnsetDetector(SR, lag_s=0.0015)
    assert _rise_within(14.0, 0.010, 0.005) > det.threshold_db + 3.0
    assert _rise_within(14.0, 0.010, 0.0015) < det.threshold_db - 1.5
    assert _rise_within(6.0, 0.010, 0.005) < det.threshold_db - 2.0
    for seed in range(3):
        x, t1 = _ring_then_swell(14.0, 0.010, seed)
        found = [o for o in det.process(x) + det.flush() if o > 0.1 * SR]  # the ring's own start is at 0
        assert len(found) == 1 and t1 <= found[0] <= t1 + 0.010 * SR, (seed, found)
        assert [o for o in short.process(x) + short.flush() if o > 0.1 * SR] == [], seed
        x, _ = _ring_then_swell(6.0, 0.010, seed)
        assert [o for o in det.process(x) + det.flush() if o > 0.1 * SR] == [], seed


def _wobbling_ring(seed: int) -> np.ndarray:
    """A kick-like ring: a sine sweeping 120 → 50 Hz over 60 ms, decaying 30 dB/s for 1.5 s, its level
    wobbling ±6 dB at 20 Hz (12 dB peak to peak, more than the threshold), over -70 dBFS noise; (n,)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(1.5 * SR)) / SR
    freq = 50.0 + 70.0 * np.exp(-t / 0.02)
    phase = 2 * np.pi * np.cumsum(freq) / SR
    level_db = -6.0 - 30.0 * t + 6.0 * np.sin(2 * np.pi * 20.0 * t + rng.uniform(0, 2 * np.pi))
    x = np.sin(phase) * 10 ** (level_db / 20)
    x = np.concatenate([np.zeros(SR // 10), x, np.zeros(SR // 5)])
    return (x + rng.standard_normal(x.size) * 10 ** (-70 / 20)).astype(np.float32)


def test_a_long_ringing_decay_with_wobble_triggers_once() -> None:
    """The wobble's rise from each trough (12 dB) exceeds the threshold, but each crest stays under the
    previous crest's held peak: one onset, at the start; a detector whose hold falls 5000 dB/s (no
    hold to speak of) retriggers on the same material, so the material does test the hold."""
    det, no_hold = OnsetDetector(SR), OnsetDetector(SR, release_db_per_s=5000.0)
    for seed in range(3):
        x = _wobbling_ring(seed)
        found = det.process(x) + det.flush()
        assert len(found) == 1 and abs(found[0] - SR // 10) <= 0.001 * SR, (seed, found)
        assert len(no_hold.process(x) + no_hold.flush()) > 3, seed
