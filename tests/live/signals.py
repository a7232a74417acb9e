"""Test signals for the live engine: reproducible 808 hit sequences with known onsets."""

from __future__ import annotations

from pathlib import Path

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


# ------------------------------------------------------------------------------- real drum one-shots
HYDROGEN = Path(__file__).resolve().parents[2] / "data" / "hydrogen"
"""The Hydrogen kits (``scrapl-live data hydrogen``); tests on real drums skip when it is missing."""

PRE_ROLL_S = 0.005
"""Each loaded one-shot keeps this much of what precedes its attack (zero-padded where the file has less)."""


def attack_start(x: np.ndarray, rel_db: float = -40.0) -> int:
    """A one-shot's attack start: its first sample at or above ``rel_db`` of its peak. x: (N,)."""
    a = np.abs(np.asarray(x, dtype=np.float64))
    return int(np.argmax(a >= a.max() * 10 ** (rel_db / 20)))


def load_shots(root: Path, sample_rate: int, split: str | None = None, kits: set[str] | None = None,
               labels: set[str] | None = None, max_s: float = 2.0) -> list[tuple[str, np.ndarray]]:
    """(drum class, one-shot) pairs of a manifest folder's files, mono at ``sample_rate``.

    The class is the manifest's ``class`` field, else read from the instrument/file name
    (``train.drumlabels.label``).  Each one-shot (n,) float32 starts ``PRE_ROLL_S`` before its
    :func:`attack_start` (faded in over that pre-roll) and lasts at most ``max_s``; silent files are
    left out.
    ``split``/``kits``/``labels`` select files.
    """
    import json

    from scrapl_live.audio import load_audio
    from scrapl_live.train.drumlabels import label

    pre = int(round(PRE_ROLL_S * sample_rate))
    out = []
    for f in json.loads((Path(root) / "manifest.json").read_text())["files"]:
        cls = f.get("class") or label(f.get("instrument") or "", f["path"])
        if split and f.get("split") != split or kits and f["kit"] not in kits or labels and cls not in labels:
            continue
        x, _ = load_audio(Path(root) / f["path"], sample_rate=sample_rate)
        if np.abs(x).max() <= 1e-4:
            continue
        a = attack_start(x)
        x = np.concatenate([np.zeros(max(pre - a, 0), np.float32), x[max(a - pre, 0):]])
        x[:pre] *= np.sin(np.linspace(0.0, np.pi / 2, pre)) ** 2  # no step where the file's floor begins
        out.append((cls, x[: int(max_s * sample_rate)]))
    return out


def mix_shots(events: list[tuple[int, np.ndarray, float]], n: int, sample_rate: int, noise_db: float = -60.0,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """White noise at ``noise_db`` dBFS (RMS) plus (start, one-shot, peak dBFS) events.

    Returns (audio (n,) float32, true onsets (len(events),) int64: each start plus the pre-roll)."""
    rng = np.random.default_rng(seed)
    audio = rng.standard_normal(n) * 10 ** (noise_db / 20)
    for t, shot, level_db in events:
        m = min(shot.size, n - t)
        audio[t : t + m] += shot[:m] * (10 ** (level_db / 20) / np.abs(shot).max())
    pre = int(round(PRE_ROLL_S * sample_rate))
    return audio.astype(np.float32), np.array([t + pre for t, _, _ in events], np.int64)


def shot_events(shots: list[np.ndarray], sample_rate: int, n_hits: int, seed: int = 0,
                levels_db: tuple[float, float] = (-40.0, 0.0), gap_s: tuple[float, float] = (0.06, 1.0)
                ) -> list[tuple[int, np.ndarray, float]]:
    """``n_hits`` (start, one-shot, peak dBFS) events at random levels and gaps, for :func:`mix_shots`
    (each rings on under the next)."""
    rng = np.random.default_rng(seed)
    starts = (np.cumsum(rng.uniform(*gap_s, n_hits)) * sample_rate).astype(np.int64)
    return [(int(t), shots[rng.integers(len(shots))], float(rng.uniform(*levels_db))) for t in starts]


def shot_sequence(shots: list[np.ndarray], sample_rate: int, n_hits: int, seed: int = 0,
                  noise_db: float = -60.0, **kw: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """:func:`shot_events` mixed by :func:`mix_shots`: (audio (N,) float32, true onsets (n_hits,) int64)."""
    events = shot_events(shots, sample_rate, n_hits, seed, **kw)
    return mix_shots(events, events[-1][0] + sample_rate, sample_rate, noise_db, seed)


def audible(events: list[tuple[int, np.ndarray, float]], audio: np.ndarray, sr: int) -> np.ndarray:
    """(n_events,) bool: the hit's own energy in its first 10 ms is at least that of the rest of the mix
    (earlier hits ringing on, noise) in the same 10 ms, in the whole band, below 200 Hz or above 3 kHz."""
    from scipy.signal import butter, lfilter

    pre, n = round(PRE_ROLL_S * sr), round(0.010 * sr)
    bands = [None, butter(2, 200.0, "lowpass", fs=sr), butter(2, 3000.0, "highpass", fs=sr)]
    out = np.zeros(len(events), bool)
    for i, (t, shot, level_db) in enumerate(events):
        own = np.zeros(pre + n + 2048)
        m = min(own.size, shot.size, audio.size - t)
        own[:m] = shot[:m] * (10 ** (level_db / 20) / np.abs(shot).max())
        mix = np.zeros_like(own)
        mix[: min(own.size, audio.size - t)] = audio[t : t + own.size]
        for band in bands:
            a, b = (own, mix - own) if band is None else (lfilter(*band, own), lfilter(*band, mix - own))
            if np.sum(a[pre : pre + n] ** 2) >= np.sum(b[pre : pre + n] ** 2):
                out[i] = True
                break
    return out
