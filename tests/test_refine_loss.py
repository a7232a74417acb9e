"""The refinement loss: its level envelope against closed forms, its spectral part against auraloss."""

from __future__ import annotations

import math

import auraloss
import numpy as np
import torch

from scrapl_live.refine_loss import ENV_FRAME, ENV_HOP, HitLoss, frame_level_db

SR = 44100
AURALOSS = ((1024, 120, 600), (2048, 240, 1200), (512, 50, 240))  # its MR-STFT defaults


def _sine(n: int, amp: float, freq: float = SR / 128) -> torch.Tensor:
    return amp * torch.sin(2 * math.pi * freq * torch.arange(n, dtype=torch.float64) / SR)


def test_frame_level_of_a_sine_and_of_an_exponential_decay() -> None:
    level = frame_level_db(_sine(8192, 0.3).unsqueeze(0))  # a 128-sample period: frames hold whole ones
    assert level.shape == (1, 1 + (8192 - ENV_FRAME) // ENV_HOP)
    assert torch.allclose(level, torch.full_like(level, 10 * math.log10(0.3**2 / 2)), atol=1e-3)
    tau = 2000.0  # samples: the level falls 20·log10(e)·hop/τ dB per frame
    decay = frame_level_db((_sine(8192, 1.0) * torch.exp(-torch.arange(8192) / tau)).unsqueeze(0))
    step = decay[0, 1:] - decay[0, :-1]
    assert torch.allclose(step, torch.full_like(step, -20 * math.log10(math.e) * ENV_HOP / tau), atol=0.02)
    silence = frame_level_db(torch.zeros(1, 4096))
    assert torch.allclose(silence, torch.full_like(silence, -80.0))  # the floor: 10·log10(1e-8)


def test_spectral_part_is_auraloss_per_hit() -> None:
    rng = np.random.default_rng(0)
    t = torch.arange(8192)
    x = torch.from_numpy(rng.normal(size=(2, 1, 8192)).astype(np.float32)) * torch.exp(-t / 900)
    y = torch.from_numpy(rng.normal(size=(2, 1, 8192)).astype(np.float32)) * torch.exp(-t / 3e3)
    y[1] *= 0.01  # a quiet hit: pooled over the batch it would hardly count
    ours = HitLoss(x, AURALOSS, env_weight=0.0)(y)
    peer = auraloss.freq.MultiResolutionSTFTLoss(fft_sizes=[1024, 2048, 512], hop_sizes=[120, 240, 50],
                                                 win_lengths=[600, 1200, 240])
    expected = torch.stack([peer(y[i : i + 1], x[i : i + 1]) for i in range(2)])
    assert ours.shape == (2,) and torch.allclose(ours, expected, rtol=1e-5)
    assert torch.allclose(HitLoss(x)(x), torch.zeros(2), atol=1e-6)  # the default loss: zero at the target


def test_envelope_term_of_a_gain_is_its_level_in_db() -> None:
    x = (_sine(8192, 0.5) * torch.exp(-torch.arange(8192) / 4000.0)).float().reshape(1, 1, -1)
    for gain in (0.5, 2.0):  # every frame's level moves by 20·log10(gain) dB (far above the floor)
        with_env = HitLoss(x, env_weight=0.1)(gain * x)
        spectral = HitLoss(x, env_weight=0.0)(gain * x)
        expected = torch.tensor([0.1 * abs(20 * math.log10(gain))])
        assert torch.allclose(with_env - spectral, expected, rtol=1e-4)
