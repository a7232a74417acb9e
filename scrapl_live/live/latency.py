"""Latency accounting of the engine, in parts: buffering, analysis window, detection, inference, render.

Per hit the engine records the wall-clock parts it can measure (inference, render, hand-over between
threads) and the sample-clock part (how long after ``onset + W`` the job was submitted, i.e. the
detector's look-ahead and block rounding).  Buffering is the device side: one input block plus one
output block (plus whatever extra latency the audio driver reports).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class LatencyStats:
    """Collected per-hit timings (milliseconds)."""

    inference_ms: list[float] = field(default_factory=list)
    render_ms: list[float] = field(default_factory=list)
    handover_ms: list[float] = field(default_factory=list)
    detection_ms: list[float] = field(default_factory=list)

    def add(self, hit: Any, applied_at: float | None = None, detection_ms: float = 0.0) -> None:
        """Record one applied job (``hit``: engine.Hit); ``applied_at``: perf_counter when it was applied."""
        applied_at = time.perf_counter() if applied_at is None else applied_at
        self.inference_ms.append(hit.inference_ms)
        self.render_ms.append(hit.render_ms)
        total = 1e3 * (applied_at - hit.detected_at)
        self.handover_ms.append(max(0.0, total - hit.inference_ms - hit.render_ms))
        self.detection_ms.append(detection_ms)

    @staticmethod
    def _pct(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) if values else float("nan")

    def report(
        self, sample_rate: int, block_size: int, window: int, device_ms: float = 0.0
    ) -> dict[str, float]:
        """Latency parts in ms (p50 of measured parts, p99 of inference) and the onset→sound total.

        ``total_excl_window_ms`` = buffering + detection + inference + render + hand-over, the part the
        engine adds on top of waiting for the W-sample analysis window.
        """
        buffering = 2e3 * block_size / sample_rate + device_ms
        parts = {
            "buffering_ms": buffering,
            "window_ms": 1e3 * window / sample_rate,
            "detection_ms": self._pct(self.detection_ms, 50),
            "inference_ms": self._pct(self.inference_ms, 50),
            "inference_p99_ms": self._pct(self.inference_ms, 99),
            "render_ms": self._pct(self.render_ms, 50),
            "handover_ms": self._pct(self.handover_ms, 50),
        }
        measured = [parts[k] for k in ("detection_ms", "inference_ms", "render_ms", "handover_ms")]
        parts["total_excl_window_ms"] = buffering + float(np.nansum(measured))
        parts["total_ms"] = parts["total_excl_window_ms"] + parts["window_ms"]
        parts["n"] = float(len(self.inference_ms))
        return parts
