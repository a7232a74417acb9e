"""Capture from files: cut each file into hits (onset detector) or windows, predict θ̂, store them.

This is ``scrapl-live finetune add``: the same windows the live engine analyses (``window`` samples from
each detected onset, at the model's sample rate), so the store holds what live capture would hold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.finetune.store import CaptureStore

log = logging.getLogger(__name__)

MODES = ("hits", "windows")


@dataclass
class CaptureReport:
    """What :func:`capture_files` did: windows cut, samples stored, windows skipped (silence/dup/cap)."""

    windows: int = 0
    stored: list[Path] = field(default_factory=list)
    skipped: int = 0
    files_without_hits: list[Path] = field(default_factory=list)


def cut_windows(audio: np.ndarray, sample_rate: int, window: int, mode: str) -> list[tuple[int, np.ndarray]]:
    """(start sample, window (W,) float32) pairs: from each onset (``hits``) or back to back (``windows``).

    A window that runs past the end of the audio is zero-padded. audio: (N,) float32.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if window <= 0:
        raise ValueError(f"window must be a positive number of samples, got {window}")
    if mode == "hits":
        from scrapl_live.live.onset import OnsetDetector

        starts = OnsetDetector(sample_rate).process(audio)
    else:
        starts = list(range(0, len(audio), window))
    out = []
    for s in starts:
        win = np.zeros(window, dtype=np.float32)
        seg = audio[max(s, 0) : s + window]
        win[: len(seg)] = seg
        out.append((int(s), win))
    return out


def capture_files(
    store: CaptureStore,
    files: Iterable[str | Path],
    encoder: Any | None = None,
    mode: str = "hits",
    sample_rate: int = 44100,
    window: int = 22050,
    progress: bool = False,
) -> CaptureReport:
    """Add every hit (or window) of ``files`` to ``store`` with θ̂ from ``encoder`` (if given).

    encoder: an :class:`~scrapl_live.encoder.runtime.OnnxEncoder`; its sample rate and window override
    ``sample_rate`` and ``window``. Each sample's metadata records the file, start time, mode and model.
    """
    from scrapl_live.audio import load_audio

    if encoder is not None:
        sample_rate, window = encoder.sample_rate, encoder.window
    report = CaptureReport()
    paths = [Path(f) for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"files not found: {missing}")
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc="capture", unit="file")
    for path in paths:
        audio, sr = load_audio(path, sample_rate)
        cut = cut_windows(audio, sr, window, mode)
        if not cut:
            report.files_without_hits.append(path)
            log.warning("%s: no %s found", path, mode)
            continue
        thetas = None
        if encoder is not None:
            thetas = np.clip(encoder(np.stack([w for _, w in cut])), 0.0, 1.0)
        for i, (start, win) in enumerate(cut):
            meta = {"source": str(path.resolve()), "start_s": start / sr, "mode": mode,
                    "model": str(encoder.path) if encoder is not None else None,
                    "synth": encoder.synth if encoder is not None else None}
            stored = store.add(win, sr, None if thetas is None else thetas[i], meta)
            report.windows += 1
            if stored is None:
                report.skipped += 1
            else:
                report.stored.append(stored)
    return report
