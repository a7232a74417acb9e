"""Texture mode's streaming granular voice: its level follows the target without bursts between grains."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import synths
from scrapl_live.live.texture import GranularVoice

SR, BLOCK = 8192, 256


def _amplitudes(density: float) -> np.ndarray:
    """The granular synth's grain amplitude law (K,) at one density."""
    with torch.no_grad():
        return synths.get("granular").amplitudes(torch.tensor([density]))[0].numpy()


def _render(voice: GranularVoice, seconds: float, density: float, level: float) -> np.ndarray:
    out = np.zeros(int(seconds * SR) // BLOCK * BLOCK, dtype=np.float32)
    for i in range(0, out.size, BLOCK):
        voice.render_into(out[i : i + BLOCK], density, 1.5, level)
    return out


@pytest.mark.parametrize("density", [0.0, 0.5, 1.0])
def test_level_matches_target_in_the_long_run(density: float) -> None:
    voice = GranularVoice(SR, BLOCK, _amplitudes, seed=1)
    out = _render(voice, 60.0, density, level=0.05)
    rms = float(np.sqrt(np.mean(out[2 * SR :] ** 2)))  # after the gain has settled
    assert 0.05 / 1.5 < rms < 0.05 * 1.5  # expected_rms is the texture's closed-form long-run level


def test_sparse_grains_never_burst() -> None:
    """A low grain rate leaves silent gaps; the gain must not grow during them (it once reached ±1)."""
    voice = GranularVoice(SR, BLOCK, _amplitudes, rate_hz=0.5, seed=2)
    out = _render(voice, 40.0, 1.0, level=0.05)
    assert np.abs(out).max() < 0.05 * 12  # one grain's peak over the long-run RMS stays bounded
