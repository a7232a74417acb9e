"""Test signals for the encoder: exponential chirps and drum-like hits (numpy float32)."""

from __future__ import annotations

import numpy as np


def chirp(sr: int, n: int, f0: float, f1: float) -> np.ndarray:
    """Exponential sine sweep from f0 to f1 Hz over n samples, shape (n,)."""
    t = np.arange(n) / sr
    k = np.log(f1 / f0) / (n / sr)
    return np.sin(2 * np.pi * f0 * np.expm1(k * t) / k).astype(np.float32)


def hit(sr: int, n: int, f0: float = 180.0, seed: int = 0) -> np.ndarray:
    """Kick/tom-like hit: sine with a falling pitch envelope plus a short noise burst, shape (n,)."""
    t = np.arange(n) / sr
    freq = f0 * (1 + 1.5 * np.exp(-t / 0.02))
    tone = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.15)
    noise = 0.3 * np.random.default_rng(seed).uniform(-1, 1, n) * np.exp(-t / 0.03)
    return (tone + noise).astype(np.float32)
