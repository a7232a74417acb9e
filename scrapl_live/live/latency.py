"""Latency accounting of the engine, in parts, with bounded memory (streaming percentiles).

A hit's first prediction is played in the block in which its first window W₀ completes (see
:mod:`scrapl_live.live.hits`), so on the sample clock the engine adds exactly its buffering: the
window's last sample waits for the end of its input block (``block_wait``, part of the input buffer)
and the output block it is mixed into waits one block for the audio callback.  The processing parts
of that block — detection, inference, render of the voice's start — are timed per hit in wall-clock
and thread-CPU time (the machine may be shared: CPU time is what the engine itself spent), and each
refinement's processing (``refine``: inference on the longer window, render, splice) likewise.

Every series is a :class:`StreamingQuantiles` (a fixed log-spaced histogram, 1 % bins), so an hour of
hits costs the same memory as a minute.
"""

from __future__ import annotations

import math
import time

import numpy as np

PARTS = ("detection", "inference", "render")
"""Processing parts of a hit's first prediction (a texture frame has inference only)."""


class Stopwatch:
    """Wall-clock and calling-thread CPU time since the previous :meth:`lap` (or construction)."""

    def __init__(self) -> None:
        self._wall, self._cpu = time.perf_counter(), time.thread_time()

    def lap(self) -> tuple[float, float]:
        """(wall ms, thread-CPU ms) since the last lap; starts the next one."""
        wall, cpu = time.perf_counter(), time.thread_time()
        lap = (1e3 * (wall - self._wall), 1e3 * (cpu - self._cpu))
        self._wall, self._cpu = wall, cpu
        return lap


class StreamingQuantiles:
    """Quantiles of a stream of non-negative values from a fixed histogram (bounded memory, O(1) add).

    Bins are log-spaced by ``ratio`` between ``lo`` and ``hi`` (values outside land in the end bins), so a
    quantile is exact to within the bin's relative width (``ratio - 1``); the mean is exact.
    """

    def __init__(self, lo: float = 1e-4, hi: float = 1e6, ratio: float = 1.01) -> None:
        self.lo, self._log_ratio = float(lo), math.log(ratio)
        self._counts = np.zeros(int(math.ceil(math.log(hi / lo) / self._log_ratio)) + 2, dtype=np.int64)
        self.count, self._sum = 0, 0.0

    def add(self, value: float) -> None:
        """Record one value (NaN is ignored, a negative one counts as 0)."""
        if math.isnan(value):
            return
        value = max(float(value), 0.0)
        i = 0 if value < self.lo else 1 + int(math.log(value / self.lo) / self._log_ratio)
        self._counts[min(i, self._counts.size - 1)] += 1
        self.count += 1
        self._sum += value

    @property
    def mean(self) -> float:
        """Exact mean of the values (NaN when empty)."""
        return self._sum / self.count if self.count else float("nan")

    def quantile(self, q: float) -> float:
        """The q-quantile (q in [0, 1]): geometric centre of the bin holding it (NaN when empty)."""
        if not self.count:
            return float("nan")
        i = int(np.searchsorted(np.cumsum(self._counts), q * (self.count - 1), side="right"))
        return 0.0 if i == 0 else self.lo * math.exp((i - 0.5) * self._log_ratio)


class LatencyStats:
    """Per-event timings: wall and thread-CPU ms of each processing part, and the block wait (samples)."""

    def __init__(self) -> None:
        self.wall_ms: dict[str, StreamingQuantiles] = {}
        self.cpu_ms: dict[str, StreamingQuantiles] = {}
        self.wait_samples = StreamingQuantiles(lo=1.0, hi=1e7)

    def _series(self, table: dict[str, StreamingQuantiles], name: str) -> StreamingQuantiles:
        if name not in table:
            table[name] = StreamingQuantiles()
        return table[name]

    def add(self, timings: dict[str, tuple[float, float]], wait_samples: int | None = None,
            total: str | None = "processing") -> None:
        """Record one event: ``timings`` {part: (wall ms, cpu ms)}; their sum goes to ``total`` (if named)."""
        for part, (wall, cpu) in timings.items():
            self._series(self.wall_ms, part).add(wall)
            self._series(self.cpu_ms, part).add(cpu)
        if total is not None:
            self._series(self.wall_ms, total).add(sum(w for w, _ in timings.values()))
            self._series(self.cpu_ms, total).add(sum(c for _, c in timings.values()))
        if wait_samples is not None:
            self.wait_samples.add(wait_samples)

    def summary(self) -> dict[str, tuple[float, float]]:
        """{part: (p50, p99)} wall ms of every part recorded so far (``processing``: their per-hit sum)."""
        return {name: (s.quantile(0.5), s.quantile(0.99)) for name, s in self.wall_ms.items()}

    def report(
        self, sample_rate: int, block_size: int, window: int, device_ms: float = 0.0
    ) -> dict[str, float]:
        """Latency parts in ms: ``<part>_ms`` / ``<part>_p99_ms`` (wall) and ``<part>_cpu_ms`` /
        ``<part>_cpu_p99_ms`` (thread CPU) for each processing part and their per-hit sum
        ``processing``; buffering (input + output block + ``device_ms``), the mean ``block_wait``
        (inside the input buffer), the first window W₀, and ``total_excl_window_ms`` = buffering +
        processing p50 (``total_ms`` adds W₀).
        """
        parts: dict[str, float] = {
            "buffering_ms": 2e3 * block_size / sample_rate + device_ms,
            "block_wait_ms": 1e3 * self.wait_samples.mean / sample_rate,
            "window_ms": 1e3 * window / sample_rate,
        }
        for name, wall in self.wall_ms.items():
            parts[f"{name}_ms"] = wall.quantile(0.5)
            parts[f"{name}_p99_ms"] = wall.quantile(0.99)
            parts[f"{name}_cpu_ms"] = self.cpu_ms[name].quantile(0.5)
            parts[f"{name}_cpu_p99_ms"] = self.cpu_ms[name].quantile(0.99)
        processing = parts.get("processing_ms", float("nan"))
        parts["total_excl_window_ms"] = parts["buffering_ms"] + float(np.nan_to_num(processing))
        parts["total_ms"] = parts["total_excl_window_ms"] + parts["window_ms"]
        parts["n"] = float(self.wall_ms["processing"].count if "processing" in self.wall_ms else 0)
        return parts
