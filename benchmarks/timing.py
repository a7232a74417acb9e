"""Per-call timing shared by the benchmarks: wall-clock and calling-thread CPU milliseconds.

With one compute thread, onnxruntime and torch run in the calling thread, so the thread-CPU time leaves
out the time the thread was descheduled: on a shared machine it shows the compute cost that a
wall-clock p99 hides.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def call_ms(fn: Callable[[], object]) -> tuple[float, float]:
    """Wall and thread-CPU ms of one call of ``fn``."""
    w, c = time.perf_counter(), time.thread_time()
    fn()
    return 1e3 * (time.perf_counter() - w), 1e3 * (time.thread_time() - c)


def timed(fn: Callable[[], object], runs: int, pause_s: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Wall and thread-CPU ms, each (runs,), of ``runs`` calls of ``fn``, each after a ``pause_s`` sleep
    (0: back to back; a pause lets the caches go cold as they do between live hits)."""
    wall, cpu = np.empty(runs), np.empty(runs)
    for i in range(runs):
        if pause_s:
            time.sleep(pause_s)
        wall[i], cpu[i] = call_ms(fn)
    return wall, cpu
