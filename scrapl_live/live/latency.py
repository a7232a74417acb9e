"""Latency accounting of the engine, in parts: buffering, analysis window, detection, inference, render.

A hit is played in the block in which its W-sample analysis window completes (see the engine), so on
the sample clock the engine adds exactly its buffering: the window's last sample waits for the end of
its input block (at most one block; ``block_wait``, part of the input buffer) and the output block it
is mixed into waits one block for the audio callback.  The processing parts of that block —
detection, inference, render of the voice's head — are timed per hit in wall-clock and thread-CPU
time (the machine may be shared: CPU time is what the engine itself spent).  They add nothing as long
as the block is done within one block period; the reported total adds them anyway (an upper bound).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PARTS = ("detection", "inference", "render")
"""Processing parts timed per hit (a texture frame has inference only)."""


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


@dataclass
class LatencyStats:
    """Per-hit timings: wall and thread-CPU ms of each processing part, and the block wait (samples)."""

    wall_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    cpu_ms: dict[str, list[float]] = field(default_factory=lambda: {p: [] for p in PARTS})
    total_wall_ms: list[float] = field(default_factory=list)  # sum of the parts, per hit
    total_cpu_ms: list[float] = field(default_factory=list)
    wait_samples: list[int] = field(default_factory=list)

    def add(self, hit: Any) -> None:
        """Record one event (``hit``: engine.Hit, ``timings`` {part: (wall, cpu)} and ``wait_samples``)."""
        for part, (wall, cpu) in hit.timings.items():
            self.wall_ms[part].append(wall)
            self.cpu_ms[part].append(cpu)
        self.total_wall_ms.append(sum(w for w, _ in hit.timings.values()))
        self.total_cpu_ms.append(sum(c for _, c in hit.timings.values()))
        self.wait_samples.append(hit.wait_samples)

    @staticmethod
    def _pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    def report(
        self, sample_rate: int, block_size: int, window: int, device_ms: float = 0.0
    ) -> dict[str, float]:
        """Latency parts in ms: ``<part>_ms`` / ``<part>_p99_ms`` (wall) and ``<part>_cpu_ms`` (thread CPU,
        p50) for each processing part and their per-hit sum ``processing``; buffering (input + output
        block + ``device_ms``), the mean ``block_wait`` (inside the input buffer), the window W, and
        ``total_excl_window_ms`` = buffering + processing p50 (``total_ms`` adds W).
        """
        parts: dict[str, float] = {
            "buffering_ms": 2e3 * block_size / sample_rate + device_ms,
            "block_wait_ms": 1e3 * float(np.mean(self.wait_samples)) / sample_rate if self.wait_samples
            else float("nan"),
            "window_ms": 1e3 * window / sample_rate,
        }
        series = {p: (self.wall_ms[p], self.cpu_ms[p]) for p in PARTS}
        series["processing"] = (self.total_wall_ms, self.total_cpu_ms)
        for name, (wall, cpu) in series.items():
            parts[f"{name}_ms"] = self._pct(wall, 50)
            parts[f"{name}_p99_ms"] = self._pct(wall, 99)
            parts[f"{name}_cpu_ms"] = self._pct(cpu, 50)
        parts["total_excl_window_ms"] = parts["buffering_ms"] + float(np.nan_to_num(parts["processing_ms"]))
        parts["total_ms"] = parts["total_excl_window_ms"] + parts["window_ms"]
        parts["n"] = float(len(self.total_wall_ms))
        return parts
