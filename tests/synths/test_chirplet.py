"""Chirplet: presets and a per-item port of the reference's generate_am_chirp."""

import math

import pytest
import torch

import synths
from synths.chirplet import PRESETS, Chirplet

SR, N = 8192, 32768


def reference_chirplet(am: float, fm: float, seed: int, max_shift: int = 2048) -> torch.Tensor:
    """Port of the reference ChirpletSynth.make_x for one item (float64). (N,)"""
    gen = torch.Generator().manual_seed(seed)
    delta = int(torch.randint(-max_shift, max_shift + 1, (1,), generator=gen).item())
    t = (torch.arange(N, dtype=torch.float64) - N // 2) / SR
    phi = 512.0 / (fm * math.log(2)) * (2 ** (fm * t) - 1)
    std = abs(0.1 * int(2.0 * SR) / fm)
    support = torch.linspace(-(N - 1) / 2, (N - 1) / 2, N, dtype=torch.float64)
    window = torch.exp(-((support / (std * math.sqrt(2))) ** 2))
    chirp = torch.sin(2 * math.pi * phi) * fm * window * torch.sin(2 * math.pi * am / 2 * t)
    chirp = torch.roll(chirp, delta)
    if delta > 0:
        chirp[:delta] = 0
    elif delta < 0:
        chirp[delta:] = 0
    return chirp


@pytest.mark.parametrize("preset", ["lo_lo", "lo_med", "hi_med", "hi_hi"])
def test_matches_reference(preset: str) -> None:
    s = synths.get("chirplet", preset=preset)
    theta = torch.tensor([[0.0, 0.0], [0.3, 0.9], [1.0, 1.0]], dtype=torch.float64)
    seeds = [0, 41, 2024]
    y = s(theta, torch.tensor(seeds))[:, 0]
    phys = s.to_physical(theta)
    for i in range(3):
        ref = reference_chirplet(phys["am"][i].item(), phys["fm"][i].item(), seeds[i])
        torch.testing.assert_close(y[i], ref, atol=1e-8, rtol=0)


def test_presets_code_and_paper_ranges() -> None:
    assert PRESETS["code"]["hi_hi"] == (3.9598, 7.9196, 8.0, 16.0)
    assert PRESETS["paper"]["hi_hi"] == (2.8, 8.4, 4.0, 12.0)
    for ranges, table in PRESETS.items():
        for preset, (am0, am1, fm0, fm1) in table.items():
            s = Chirplet(preset=preset, ranges=ranges)
            phys = s.to_physical(torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64))
            assert phys["am"].tolist() == pytest.approx([am0, am1]) and phys["fm"].tolist() == pytest.approx(
                [fm0, fm1]
            )
            assert all(p.scale == "log" for p in s.params)
    with pytest.raises(ValueError, match="preset"):
        Chirplet(preset="mid")
    with pytest.raises(ValueError, match="ranges"):
        Chirplet(ranges="blog")


def test_shift_drawn_from_seed_or_given() -> None:
    s = synths.get("chirplet")
    theta = torch.full((2, 2), 0.5, dtype=torch.float64)
    seed = torch.tensor([3, 3])
    explicit = s(theta, seed, torch.tensor([0, 100]))[:, 0]
    torch.testing.assert_close(explicit[1, 100:], explicit[0, :-100])
    assert (explicit[1, :100] == 0).all()
    unshifted = Chirplet(max_shift=0)(theta[:1], seed[:1])[0, 0]
    torch.testing.assert_close(unshifted, explicit[0])
    delta = s.draw_shift(torch.arange(200))
    assert delta.abs().max() <= 2048 and len(set(delta.tolist())) > 150
