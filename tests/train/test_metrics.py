"""Metrics against closed forms: BS.1770 sine loudness, tone centroid, noise flatness, L1 and TV."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scrapl_live.train import metrics

SR = 44100


def _tone(freq: float, n: int = SR, amp: float = 1.0) -> np.ndarray:
    return amp * np.sin(2 * np.pi * freq * np.arange(n) / SR)[None, :]


def test_theta_l1_per_param() -> None:
    theta = torch.tensor([[0.0, 0.5], [1.0, 0.5]])
    theta_hat = torch.tensor([[0.1, 0.5], [0.7, 0.0]])
    assert torch.allclose(metrics.theta_l1_permille(theta_hat, theta), torch.tensor([200.0, 250.0]))
    with pytest.raises(ValueError, match="theta_hat"):
        metrics.theta_l1_permille(theta_hat[:, :1], theta)


def test_total_variation() -> None:
    assert metrics.total_variation_permille([0.1, 0.3, 0.2, 0.2]) == pytest.approx((0.2 + 0.1) / 4 * 1000)
    with pytest.raises(ValueError, match="values"):
        metrics.total_variation_permille([0.1])


def test_loudness_of_full_scale_997hz_sine_is_minus_3_01() -> None:
    # ITU-R BS.1770-4: a 0 dBFS 997 Hz sine in one channel reads -3.01 LKFS (pyloudnorm's generic
    # biquad design at 44.1 kHz is ~0.04 dB off the 48 kHz table coefficients).
    loud = metrics.frame_loudness(_tone(997.0), SR)
    assert loud[0, 5:].mean() == pytest.approx(-3.01, abs=0.06)
    # -20 dB amplitude -> -20 dB loudness.
    quiet = metrics.frame_loudness(_tone(997.0, amp=0.1), SR)
    assert quiet[0, 5:].mean() == pytest.approx(-23.01, abs=0.06)


def test_k_weighting_shelf_boosts_highs() -> None:
    # Far above 1.5 kHz the shelf adds +4 dB: -0.691 + 10·log10(0.5) + 4 = 0.30 LUFS; 20 Hz is cut hard.
    hi = metrics.frame_loudness(_tone(10000.0), SR)[0, 5:].mean()
    lo = metrics.frame_loudness(_tone(20.0), SR)[0, 5:].mean()
    assert hi == pytest.approx(-0.691 + 10 * np.log10(0.5) + 4.0, abs=0.15)
    assert lo < -8.0


@pytest.mark.parametrize("freq", [440.0, 2000.0, 6000.0])
def test_centroid_of_pure_tone(freq: float) -> None:
    hz = metrics.frame_centroid_hz(_tone(freq), SR)
    # the 1e-4 floor and the flat-top sidelobes spread a little weight over all bins, pulling the
    # centroid towards 11 kHz by at most ~200 Hz
    assert np.all(np.abs(hz - freq) < 0.03 * freq + 200)
    mapped = metrics.frame_centroid(_tone(freq), SR)
    assert np.allclose(mapped, -34.61 * hz**-0.1621 + 21.2985)


def test_flatness_white_noise_vs_sine() -> None:
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((4, SR))
    # Periodogram bins of white Gaussian noise are exponential: E[log P] = log E[P] - γ,
    # so geometric/arithmetic -> exp(-γ) = 0.5615 -> 20·log10 = -5.01 dB.
    flat = metrics.frame_flatness_db(noise)
    assert flat.mean() == pytest.approx(20 * np.log10(np.exp(-np.euler_gamma)), abs=0.3)
    assert metrics.frame_flatness_db(_tone(1000.0)).max() < -60.0


def test_tr808_feature_l1_zero_for_identical_and_positive_otherwise() -> None:
    x = np.concatenate([_tone(100.0) * np.exp(-np.arange(SR) / 4000.0)] * 2)
    zero = metrics.tr808_feature_l1(x, x, SR)
    assert set(zero) == {
        f"{f}_{p}" for f in ("loudness", "centroid", "flatness") for p in ("transient", "decay")
    }
    assert all(v == 0.0 for v in zero.values())
    y = 0.5 * x
    diff = metrics.tr808_feature_l1(y, x, SR)
    # half amplitude = -6.02 dB on every frame
    assert diff["loudness_transient"] == pytest.approx(20 * np.log10(2), abs=0.05)
    with pytest.raises(ValueError, match="pred"):
        metrics.tr808_feature_l1(x[:1], x, SR)
