"""Evaluation metrics of the SCRAPL paper: θ L1 ‰, validation total variation, and the tr808 features.

tr808 features (loudness, spectral centroid, spectral flatness) follow the reference's recipe:
frames of 2048 with hop 512 from the onset, "transient" = frames 0-1, "decay" = frames 2-65. (The
reference drops its first 2048 samples, which are its synth's fixed pre-delay; our audio is aligned
at sample 0, so ``SKIP`` = 0 gives the same frames.) Centroid and flatness are weighted per frame
by (loudness + 80.691); the metric is the mean L1 between prediction and target over frames and
examples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy.signal import get_window, lfilter

FRAME = 2048
HOP = 512
SKIP = 0
TRANSIENT = slice(0, 2)
DECAY = slice(2, 66)
LOUDNESS_FLOOR = 80.691  # -0.691 + 10·log10(1e-8) = -80.691 LUFS: silence weighs 0


def theta_l1_permille(theta_hat: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Mean |θ̂ - θ| per parameter in the normalised [0,1] domain, ×1000. (B, U), (B, U) -> (U,)."""
    if theta_hat.ndim != 2 or theta_hat.shape != theta.shape:
        raise ValueError(
            f"theta_hat and theta must both be (batch, params), got {tuple(theta_hat.shape)} "
            f"and {tuple(theta.shape)}"
        )
    return (theta_hat.detach().float() - theta.detach().float()).abs().mean(dim=0) * 1000.0


def total_variation_permille(values: Sequence[float]) -> float:
    """Σ|y_i - y_(i-1)| / n over a validation curve y (n values), ×1000 (the paper's Table 2)."""
    y = np.asarray(values, dtype=np.float64)
    if y.ndim != 1 or y.size < 2:
        raise ValueError(f"values must be a 1-D curve with >= 2 points, got shape {y.shape}")
    return float(np.abs(np.diff(y)).sum() / y.size * 1000.0)


def _biquad(kind: str, gain_db: float, q: float, fc: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    """pyloudnorm's biquad design ('high_shelf' or 'high_pass'). Returns (b, a) normalised by a0."""
    a_ = 10.0 ** (gain_db / 40.0)
    w0 = 2.0 * np.pi * fc / sr
    alpha = np.sin(w0) / (2.0 * q)
    c = np.cos(w0)
    if kind == "high_shelf":
        sq = 2.0 * np.sqrt(a_) * alpha
        b = [
            a_ * ((a_ + 1) + (a_ - 1) * c + sq),
            -2 * a_ * ((a_ - 1) + (a_ + 1) * c),
            a_ * ((a_ + 1) + (a_ - 1) * c - sq),
        ]
        a = [(a_ + 1) - (a_ - 1) * c + sq, 2 * ((a_ - 1) - (a_ + 1) * c), (a_ + 1) - (a_ - 1) * c - sq]
    else:
        b = [(1 + c) / 2, -(1 + c), (1 + c) / 2]
        a = [1 + alpha, -2 * c, 1 - alpha]
    b_arr, a_arr = np.asarray(b), np.asarray(a)
    return b_arr / a_arr[0], a_arr / a_arr[0]


def k_weight(audio: np.ndarray, sr: int) -> np.ndarray:
    """BS.1770 K-weighting (pyloudnorm coefficients: shelf +4 dB @1.5 kHz, high-pass @38 Hz). (..., N)."""
    out = audio
    for kind, g, q, fc in (("high_shelf", 4.0, 1 / np.sqrt(2), 1500.0), ("high_pass", 0.0, 0.5, 38.0)):
        b, a = _biquad(kind, g, q, fc, sr)
        out = lfilter(b, a, out, axis=-1)
    return out


def _frames(audio: np.ndarray) -> np.ndarray:
    """(B, N) -> (B, n_frames, FRAME) after the first SKIP samples (no padding)."""
    x = audio[:, SKIP:]
    if x.shape[-1] < FRAME:
        raise ValueError(f"audio needs at least {SKIP + FRAME} samples, got {audio.shape[-1]}")
    return np.lib.stride_tricks.sliding_window_view(x, FRAME, axis=-1)[:, ::HOP]


def frame_loudness(audio: np.ndarray, sr: int) -> np.ndarray:
    """K-weighted per-frame loudness in LUFS: -0.691 + 10·log10(mean square + 1e-8). (B, N) -> (B, F)."""
    ms = (_frames(k_weight(audio, sr)) ** 2).mean(axis=-1)
    return -0.691 + 10.0 * np.log10(ms + 1e-8)


def frame_centroid_hz(audio: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame centroid in Hz of log(1+|X|) (flat-top window, |X| floored at 1e-4). (B, N) -> (B, F)."""
    mag = np.abs(np.fft.rfft(_frames(audio) * get_window("flattop", FRAME), axis=-1))
    w = np.log1p(np.maximum(mag, 1e-4))
    w = w / w.sum(axis=-1, keepdims=True)
    return (w * np.fft.rfftfreq(FRAME, 1.0 / sr)).sum(axis=-1)


def frame_centroid(audio: np.ndarray, sr: int) -> np.ndarray:
    """Per-frame centroid on the reference's perceptual scale -34.61·f^-0.1621 + 21.2985. (B, N) -> (B, F)."""
    return -34.61 * np.maximum(frame_centroid_hz(audio, sr), 1e-6) ** -0.1621 + 21.2985


def frame_flatness_db(audio: np.ndarray) -> np.ndarray:
    """Per-frame spectral flatness (geometric/arithmetic mean of the Hann power spectrum, power ≥ 1e-10)
    in dB: 20·log10(flatness + 1e-8). (B, N) -> (B, F)."""
    power = np.maximum(np.abs(np.fft.rfft(_frames(audio) * get_window("hann", FRAME), axis=-1)) ** 2, 1e-10)
    flat = np.exp(np.log(power).mean(axis=-1)) / power.mean(axis=-1)
    return 20.0 * np.log10(flat + 1e-8)


def tr808_features(audio: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Loudness, loudness-weighted centroid and flatness per frame. audio (B, N) -> dict of (B, F)."""
    loud = frame_loudness(audio, sr)
    weight = loud + LOUDNESS_FLOOR
    return {
        "loudness": loud,
        "centroid": frame_centroid(audio, sr) * weight,
        "flatness": frame_flatness_db(audio) * weight,
    }


def tr808_feature_l1(pred: np.ndarray, target: np.ndarray, sr: int) -> dict[str, float]:
    """Mean L1 of each feature on transient and decay frames. (B, N), (B, N) -> {"loudness_decay", ...}."""
    if pred.ndim != 2 or pred.shape != target.shape:
        raise ValueError(
            f"pred and target must both be (batch, samples), got {pred.shape} and {target.shape}"
        )
    fp, ft = tr808_features(pred.astype(np.float64), sr), tr808_features(target.astype(np.float64), sr)
    out = {}
    for name in fp:
        diff = np.abs(fp[name] - ft[name])
        out[f"{name}_transient"] = float(diff[:, TRANSIENT].mean())
        out[f"{name}_decay"] = float(diff[:, DECAY].mean())
    return out
