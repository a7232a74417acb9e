"""Filling the capture store from files (``scrapl-live finetune add``): hits cut, θ̂ predicted, stored.

Each hit is stored from its onset for the synth's output length (1 s for tr808), because the fine-tune
loss compares whole renders; the encoder sees the first ``window`` samples of it, as it does live. A
hit that the next onset (or the end of the audio) cuts short is stored shorter, not zero-padded: the
worker compares renders over the captured span only.  Metadata: ``start_s`` (the onset in the source),
``window`` and ``length`` (requested samples at the stored rate).  Older stores hold only the
W-sample window; they stay readable (a short captured span).

From files: each file is cut into hits (the live onset detector) or back-to-back segments, θ̂ is
predicted with the encoder if one is given, and every segment is stored with its metadata.

Live capture (the engine's tap, same segments and metadata): :mod:`scrapl_live.finetune.live_capture`.
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
class FileReport:
    """One file of a batch: segments cut, stored and skipped (silence, duplicate, cap), or why it failed."""

    path: Path
    found: int = 0
    stored: int = 0
    skipped: int = 0
    silent: int = 0  # of the skipped: below the store's silence level (the others: duplicates or cap)
    from_start: bool = False  # its first hit starts at sample 0 (attack at 0, or no onset detected)
    error: str | None = None  # the file could not be read (nothing of it stored)

    def summary(self) -> str:
        """One line: what was stored from this file and why the rest was not."""
        if self.error is not None:
            return f"not read: {self.error}"  # the message names the file
        if self.found == 0:
            return f"{self.path}: nothing to cut (empty)"
        parts = [f"{self.stored} of {self.found} stored"]
        if self.silent:
            parts.append(f"{self.silent} silent")
        if self.skipped - self.silent:
            parts.append(f"{self.skipped - self.silent} already in the store or over its cap")
        note = " (the first from sample 0)" if self.from_start and self.stored else ""
        return f"{self.path}: " + ", ".join(parts) + note

    @property
    def usable(self) -> bool:
        """Read, and at least one segment stored or already in the store (not everything silent)."""
        return self.error is None and self.skipped - self.silent + self.stored > 0


@dataclass
class CaptureReport:
    """What :func:`capture_files` did: segments cut, samples stored, segments skipped, per file."""

    windows: int = 0
    stored: list[Path] = field(default_factory=list)
    skipped: int = 0
    files: list[FileReport] = field(default_factory=list)


def _rms_db(x: np.ndarray) -> float:
    """RMS level of (N,) in dBFS (-inf for digital silence)."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return 20 * float(np.log10(rms)) if rms > 0 else float("-inf")


def synth_length(card: dict[str, Any]) -> int:
    """Output length (samples at the model's rate) of the synth an encoder card names."""
    import synths

    return output_length(synths.get(card["synth"], **card.get("synth_options", {})), int(card["sample_rate"]))


def output_length(synth: Any, sample_rate: int) -> int:
    """Samples of ``synth``'s output (``n_samples`` at its own rate) at ``sample_rate``."""
    return int(round(synth.n_samples * sample_rate / synth.sample_rate))


def onsets(audio: np.ndarray, sample_rate: int) -> list[int]:
    """Sorted distinct onset samples of a whole signal (N,): the live detector, flushed at the end."""
    from scrapl_live.live.onset import OnsetDetector

    det = OnsetDetector(sample_rate)
    found = list(det.process(audio))
    flush = getattr(det, "flush", None)  # the detector's end-of-file call (contract 5)
    if flush is not None:
        found += list(flush())
    return sorted({min(max(int(s), 0), len(audio) - 1) for s in found}) if len(audio) else []


def cut_hits(audio: np.ndarray, sample_rate: int, length: int, mode: str) -> list[tuple[int, np.ndarray]]:
    """(start sample, segment (n,) float32, n ≤ length) pairs: from each onset up to the next onset
    (``hits``) or back to back (``windows``); audio: (N,) float32.  Segments are not padded.
    A signal in which no onset is found (a one-shot whose attack is its first sample) is one hit from 0."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    if length <= 0:
        raise ValueError(f"length must be a positive number of samples, got {length}")
    if mode == "hits":
        starts = onsets(audio, sample_rate) or ([0] if len(audio) else [])
    else:
        starts = list(range(0, len(audio), length))
    ends = [*starts[1:], len(audio)]
    return [(s, np.array(audio[s : min(s + length, e)], dtype=np.float32))
            for s, e in zip(starts, ends, strict=True) if e > s]


def capture_files(
    store: CaptureStore,
    files: Iterable[str | Path],
    encoder: Any | None = None,
    mode: str = "hits",
    sample_rate: int = 44100,
    window: int = 2048,
    length: int = 44100,
    progress: bool = False,
) -> CaptureReport:
    """Add every hit (or segment) of ``files`` to ``store`` with θ̂ from ``encoder`` (if given).

    encoder: an :class:`~scrapl_live.encoder.runtime.OnnxEncoder`; its sample rate, window and synth
    length override ``sample_rate``, ``window`` and ``length``.  θ̂ is predicted from each segment's
    first ``window`` samples (zero-padded); metadata records the file, start, mode, window, length and model.
    """
    from scrapl_live.audio import load_audio

    if encoder is not None:
        sample_rate, window, length = encoder.sample_rate, encoder.window, synth_length(encoder.card)
    report = CaptureReport()
    paths = [Path(f) for f in files]
    if progress:
        from tqdm import tqdm

        paths = tqdm(paths, desc="capture", unit="file")
    for path in paths:
        entry = FileReport(path)
        report.files.append(entry)
        try:
            audio, sr = load_audio(path, sample_rate)
        except (ValueError, FileNotFoundError) as exc:
            entry.error = str(exc)
            log.debug("%s: %s", path, exc)
            continue
        cut = cut_hits(audio, sr, length, mode)
        entry.found = len(cut)
        entry.from_start = mode == "hits" and bool(cut) and cut[0][0] == 0
        thetas = None
        if encoder is not None and cut:
            heads = np.zeros((len(cut), window), np.float32)
            for i, (_, seg) in enumerate(cut):
                heads[i, : min(window, seg.size)] = seg[:window]
            thetas = np.clip(encoder(heads), 0.0, 1.0)
        for i, (start, seg) in enumerate(cut):
            meta = {"source": str(path.resolve()), "start_s": start / sr, "mode": mode, "window": window,
                    "length": length, "model": str(encoder.path) if encoder is not None else None,
                    "synth": encoder.synth if encoder is not None else None}
            stored = store.add(seg, sr, None if thetas is None else thetas[i], meta)
            report.windows += 1
            if stored is None:
                report.skipped += 1
                entry.skipped += 1
                entry.silent += int(_rms_db(seg) <= store.silence_db)
            else:
                report.stored.append(stored)
                entry.stored += 1
    return report
