"""Filling the capture store: from files (``scrapl-live finetune add``) and live, in the background.

Each hit is stored from its onset for the synth's output length (1 s for tr808), because the fine-tune
loss compares whole renders; the encoder sees the first ``window`` samples of it, as it does live. A
hit that the next onset (or the end of the audio) cuts short is stored shorter, not zero-padded: the
worker compares renders over the captured span only.  Metadata: ``start_s`` (the onset in the source),
``window`` and ``length`` (requested samples at the stored rate).  Stores written before this held
only the W-sample window; they stay readable (a short captured span).

From files: each file is cut into hits (the live onset detector) or back-to-back segments, θ̂ is
predicted with the encoder if one is given, and every segment is stored with its metadata.

Live: :class:`LiveCapture` receives the engine's input blocks and its hits and, once a hit's span has
been heard, hands it to :class:`BackgroundCapture`, which writes on its own thread, because a durable
write (two fsyncs) takes ~15 ms — far more than a live engine's block thread may wait.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable, Iterable
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


class BackgroundCapture:
    """Non-blocking capture for live mode: :meth:`submit` queues a copy, a daemon thread stores it.

    At most ``max_pending`` samples wait; further ones are dropped and counted, so the caller never
    waits on the disk. Counters: ``stored``, ``skipped`` (silence, duplicate, cap), ``dropped``
    (queue full), ``errors`` (invalid sample or I/O error, logged).
    """

    def __init__(self, store: CaptureStore, max_pending: int = 64) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        self.store = store
        self.stored = self.skipped = self.dropped = self.errors = 0
        self._queue: queue.Queue[tuple | None] = queue.Queue(maxsize=max_pending)
        self._thread = threading.Thread(target=self._run, name="scrapl-capture", daemon=True)
        self._thread.start()

    def submit(
        self, audio: np.ndarray, sample_rate: int, theta: np.ndarray | None = None, meta: dict | None = None
    ) -> bool:
        """Queue one sample (copied); False when the queue is full and the sample was dropped."""
        theta_copy = None if theta is None else np.array(theta, copy=True)
        item = (np.array(audio, copy=True), sample_rate, theta_copy, dict(meta or {}))
        try:
            self._queue.put_nowait(item)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            try:
                if self.store.add(*item) is None:
                    self.skipped += 1
                else:
                    self.stored += 1
            except (ValueError, OSError) as exc:
                self.errors += 1
                log.error("capture failed: %s", exc)

    def close(self, timeout_s: float = 30.0) -> None:
        """Write what is queued, then stop the thread (idempotent)."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)


class LiveCapture:
    """The live engine's capture tap (``engine.capture``): each hit from its onset for ``length`` samples.

    The engine calls :meth:`feed` with every input block (block thread) and :meth:`hit` with every
    analysed hit (any thread).  A hit is handed to ``background`` once ``margin`` samples (default W +
    0.1 s) after its span have been heard (later onsets inside the span are known by then, and cut it
    short); the audio comes from a ring buffer of the last ``length + window + margin`` samples and more.
    ``feed`` only copies: no allocation but the emitted segment, no lock, no disk.
    """

    def __init__(self, background: BackgroundCapture, sample_rate: int, window: int, length: int,
                 margin: int | None = None) -> None:
        if min(sample_rate, window, length) <= 0:
            raise ValueError(f"sample_rate, window and length must be > 0, got {sample_rate}, {window}, "
                             f"{length}")
        self.background, self.sample_rate, self.window, self.length = background, sample_rate, window, length
        # a later onset inside a span is reported W + detection + inference after it: wait that long
        self.margin = window + sample_rate // 10 if margin is None else int(margin)
        span = length + window + self.margin + sample_rate // 4
        self._ring = np.zeros(1 << span.bit_length(), np.float32)
        self._t = 0  # absolute index of the next input sample
        self._new: collections.deque[tuple[int, np.ndarray, dict]] = collections.deque()
        self._pending: list[list] = []  # [start, end, theta, meta], block thread only
        self.lost = 0  # hits whose span had left the ring (e.g. no blocks fed for a while)

    @classmethod
    def for_engine(cls, engine: Any, background: BackgroundCapture) -> LiveCapture:
        """A tap at ``engine``'s rate: its analysis window and its synth's output length."""
        length = output_length(engine.synth, engine.sample_rate)
        return cls(background, engine.sample_rate, engine.window, length)

    def hit(self, start: int, theta: np.ndarray, meta: dict) -> None:
        """A hit at absolute input sample ``start`` with θ̂ (U,) and metadata (any thread)."""
        self._new.append((int(start), np.array(theta, copy=True), dict(meta)))

    def feed(self, block: np.ndarray, t0: int) -> None:
        """Input block (B,) starting at absolute sample ``t0`` (block thread): store it, emit ready hits."""
        n, size = block.size, self._ring.size
        pos = t0 % size
        first = min(n, size - pos)
        self._ring[pos : pos + first] = block[:first]
        self._ring[: n - first] = block[first:]
        self._t = t0 + n
        self._take_new()
        self._emit(lambda end: end + self.margin <= self._t)

    def _take_new(self) -> None:
        while self._new:
            start, theta, meta = self._new.popleft()
            for item in self._pending:  # the new onset ends earlier hits' spans
                if item[0] < start < item[1]:
                    item[1] = start
            self._pending.append([start, start + self.length, theta, meta])

    def _emit(self, ready: Callable[[int], bool]) -> None:
        """Submit every pending hit whose span end satisfies ``ready``; keep the others."""
        keep = []
        for start, end, theta, meta in self._pending:
            if not ready(end):
                keep.append([start, end, theta, meta])
                continue
            end = min(end, self._t)
            if start < self._t - self._ring.size or end <= start:
                self.lost += 1
                continue
            meta = {**meta, "window": self.window, "length": self.length}
            self.background.submit(self._read(start, end), self.sample_rate, theta, meta)
        self._pending = keep

    def _read(self, start: int, end: int) -> np.ndarray:
        """Input samples [start, end) (end - start,) from the ring buffer (two slices, no index array)."""
        n, pos = end - start, start % self._ring.size
        first = min(n, self._ring.size - pos)
        out = np.empty(n, np.float32)
        out[:first] = self._ring[pos : pos + first]
        out[first:] = self._ring[: n - first]
        return out

    def close(self, timeout_s: float = 30.0) -> None:
        """Hand over the hits still waiting (cut at the last fed sample), then close ``background``."""
        self._take_new()
        self._emit(lambda end: True)
        self.background.close(timeout_s)
