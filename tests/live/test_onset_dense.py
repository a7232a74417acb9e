"""Dense playing: a hit right after a louder one is found exactly when it rises above the detector's
falling peak hold (closed form: the louder hit's frame level minus ``release_db_per_s`` × the time since,
plus ``threshold_db``), even where the louder hit has already died away."""

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
    """Ghost level (dB re the accent) above which it triggers: the hold falls from the accent's level from
    the last frame of the accent that is at least ``lag`` frames before the ghost's first frame."""
    held_since = 0.020 - det.lag * det.hop / SR  # the accent's last level entering the hold
    return -det.release * (gap_s - held_since) * SR / det.hop + det.threshold_db


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
