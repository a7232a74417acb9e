"""Live capture: the engine's input blocks and hits into the capture store, in the background.

:class:`LiveCapture` receives the engine's input blocks and its hits and, once a hit's span has been
heard, hands it to :class:`BackgroundCapture`, which writes on its own thread, because a durable write
(two fsyncs) takes ~15 ms — far more than a live engine's block thread may wait.  Each hit is stored
from its onset for the synth's output length, cut short by the next onset, with the metadata of
:mod:`scrapl_live.finetune.capture` (``window``, ``length``).
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from scrapl_live.finetune.capture import output_length
from scrapl_live.finetune.store import CaptureStore

log = logging.getLogger(__name__)


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
