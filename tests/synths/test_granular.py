"""Granular texture: closed forms (amplitudes, chirp slope, norm) and a loop port of the reference."""

import math

import numpy as np
import pytest
import scipy.signal
import torch

import synths
from synths.granular import Granular

SR, N, K, G = 8192, 32768, 64, 4096


def reference_texture(density: float, slope_0to1: float, seed: int) -> torch.Tensor:
    """Per-item, per-grain loop port of the reference ChirpTextureSynth.make_x (float64). (N,)"""
    gen = torch.Generator().manual_seed(seed)
    f0 = torch.pow(2.0, torch.empty(K).uniform_(generator=gen).double() * 3 + 8).view(-1, 1)
    d = torch.tensor(density, dtype=torch.float64)
    offset = 0.25 * d + 0.75 * d**2
    amp = 1 - torch.sigmoid(2 * (1 - d) * K * (torch.arange(K) / K - offset))
    amp = (amp / amp.max()).view(-1, 1)
    gamma = math.tan(0.95 * (2 * slope_0to1 - 1) * math.pi / 2) * SR / (12 * 256) / 4
    support = torch.arange(G, dtype=torch.float64) / SR - G / SR / 2
    window = torch.sin(math.pi * torch.arange(G, dtype=torch.float64) / G) ** 2
    phase = 2 * math.pi * torch.cumsum(f0 * 2 ** (gamma * support) / SR, dim=1)
    grains = torch.sin(phase) * amp * window / torch.sqrt(f0)
    onsets = (torch.empty(K).uniform_(generator=gen) * (N - G)).long()
    x = torch.zeros(N, dtype=torch.float64)
    for grain, onset in zip(grains, onsets, strict=True):
        x += torch.roll(torch.cat([grain, torch.zeros(N - G, dtype=torch.float64)]), int(onset))
    return x / x.norm()


def test_matches_reference_loop() -> None:
    torch.set_num_threads(1)
    s = synths.get("granular")
    theta = torch.tensor([[0.0, 0.0], [0.37, 0.81], [1.0, 1.0]], dtype=torch.float64)
    y = s(theta, torch.tensor([0, 17, 123]))[:, 0]
    for i, (d, sl) in enumerate(theta.tolist()):
        torch.testing.assert_close(y[i], reference_texture(d, sl, [0, 17, 123][i]), atol=1e-7, rtol=0)


def test_unit_l2_norm() -> None:
    y = synths.get("granular")(torch.rand(4, 2), torch.arange(4))
    torch.testing.assert_close(torch.linalg.vector_norm(y, dim=-1), torch.ones(4, 1))


def test_density_one_gives_equal_amplitudes() -> None:
    s = Granular()
    assert torch.equal(s.amplitudes(torch.tensor([1.0])), torch.ones(1, K))
    a0 = s.amplitudes(torch.tensor([0.0]))[0]
    assert a0[0] == 1.0 and a0[1:].max() < 0.25  # θ = 0: one dominant grain
    # Measured: each grain's energy × f_k is the same for all grains (a_k equal, windows identical).
    grains, _ = s.grains(torch.tensor([[1.0, 0.5]], dtype=torch.float64), torch.tensor([9]))
    f0 = 2 ** (8 + 3 * torch.rand(K, generator=torch.Generator().manual_seed(9)).double())
    energy = grains[0].pow(2).sum(-1) * f0
    assert (energy / energy.mean() - 1).abs().max() < 0.02


@pytest.mark.parametrize("gamma", [-6.0, -2.0, 0.0, 2.0, 6.0])
def test_grain_instantaneous_frequency_slope(gamma: float) -> None:
    s = Granular()
    theta = s.to_theta({"density": 1.0, "slope": gamma}).double()
    grains, _ = s.grains(theta, torch.tensor([5]))
    f0 = 2 ** (8 + 3 * torch.rand(K, generator=torch.Generator().manual_seed(5)).double())
    grain = grains[0, int(f0.argmin())].numpy()  # lowest start frequency: stays far below Nyquist
    phase = np.unwrap(np.angle(scipy.signal.hilbert(grain)))
    inst = np.diff(phase) * SR / (2 * np.pi)
    t = np.arange(1024, 3072) / SR
    measured = np.polyfit(t, np.log2(inst[1024:3072]), 1)[0]
    assert measured == pytest.approx(gamma, rel=0.02, abs=0.02)


def test_onsets_leave_room_for_a_whole_grain() -> None:
    _, onsets = Granular().grains(torch.rand(8, 2), torch.arange(8))
    assert onsets.min() >= 0 and onsets.max() <= N - G


def test_slope_mapping_matches_reference_formula() -> None:
    spec = Granular().params[1]
    for u in (0.0, 0.25, 0.5, 1.0):
        expected = math.tan(0.95 * (2 * u - 1) * math.pi / 2) * SR / (12 * 256) / 4
        assert spec.to_physical(u) == pytest.approx(expected, abs=1e-12)
    assert spec.max == pytest.approx(8.4708, abs=1e-4)
