"""Test signals for the live engine: reproducible 808 hit sequences with known onsets."""

from __future__ import annotations

import numpy as np
import torch

import synths
from scrapl_live.audio import resample
from scrapl_live.live.demo import PRESETS
from scrapl_live.live.engine import LIVE_SYNTH_OPTIONS


def hit_sequence(
    n_hits: int = 40, sample_rate: int = 44100, seed: int = 0, noise_db: float = -60.0,
    levels_db: tuple[float, float] = (-40.0, 0.0), gap_s: tuple[float, float] = (0.15, 0.4),
) -> tuple[np.ndarray, np.ndarray]:
    """808 hits (the demo presets, θ jittered by ±0.05) at random levels over white noise.

    Returns (audio (N,) float32, onsets (n_hits,) int64 samples).
    """
    rng = np.random.default_rng(seed)
    synth = synths.get("tr808", **LIVE_SYNTH_OPTIONS["tr808"])
    names = list(PRESETS)
    onsets = np.cumsum(rng.uniform(*gap_s, n_hits)).astype(np.float64)
    onsets = (onsets * sample_rate).astype(np.int64)
    n = int(onsets[-1] + 0.6 * sample_rate)
    audio = (rng.standard_normal(n) * 10 ** (noise_db / 20)).astype(np.float32)
    for i, t in enumerate(onsets):
        theta = synth.to_theta(PRESETS[names[rng.integers(len(names))]])
        theta = (theta + torch.from_numpy(rng.uniform(-0.05, 0.05, theta.shape)).float()).clamp(0, 1)
        with torch.no_grad():
            hit = synth(theta, torch.tensor([seed * 1000 + i]))[0, 0].numpy()
        hit = resample(hit, synth.sample_rate, sample_rate)
        hit *= 10 ** (rng.uniform(*levels_db) / 20) / max(float(np.abs(hit).max()), 1e-9)
        n = min(hit.size, audio.size - t)
        audio[t : t + n] += hit[:n]
    return audio, onsets


def onset_f1(found: np.ndarray, truth: np.ndarray, tol: int) -> tuple[float, float, float]:
    """(precision, recall, F1) with one-to-one greedy matching within ±tol samples."""
    found = np.sort(np.asarray(found))
    used = np.zeros(found.size, bool)
    tp = 0
    for t in truth:
        d = np.abs(found - t)
        d[used] = tol + 1
        if d.size and d.min() <= tol:
            used[int(d.argmin())] = True
            tp += 1
    p = tp / max(found.size, 1)
    r = tp / max(len(truth), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)
