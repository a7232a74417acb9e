"""Streaming latency statistics: bounded memory, quantiles within a bin of numpy's."""

from __future__ import annotations

import numpy as np

from scrapl_live.live.latency import LatencyStats, StreamingQuantiles


def test_quantiles_match_numpy_within_one_bin() -> None:
    values = np.random.default_rng(0).lognormal(0.0, 1.0, 20000)  # ms-like: 0.05 .. 40
    q = StreamingQuantiles()
    size = q._counts.nbytes
    for v in values:
        q.add(float(v))
    q.add(float("nan"))  # ignored
    assert q._counts.nbytes == size and q.count == values.size  # memory does not grow with the stream
    for p in (0.5, 0.9, 0.99):
        assert abs(q.quantile(p) / np.quantile(values, p) - 1) <= 0.011
    assert abs(q.mean - values.mean()) < 1e-9 * values.size


def test_stats_sum_parts_and_summarise() -> None:
    stats = LatencyStats()
    for i in range(100):
        stats.add({"inference": (1.0 + i / 100, 0.5), "render": (0.5, 0.25)}, wait_samples=i)
    stats.add({"refine_inference": (2.0, 1.0)}, total="refine")
    summary = stats.summary()
    assert set(summary) == {"inference", "render", "processing", "refine_inference", "refine"}
    p50, p99 = summary["processing"]
    assert abs(p50 / 2.0 - 1) < 0.011 and abs(p99 / 2.49 - 1) < 0.011  # 1.5 + i/100
    report = stats.report(48000, 256, 256)
    assert report["n"] == 100 and abs(report["block_wait_ms"] - 1e3 * 49.5 / 48000) < 1e-9
    cpu = (report["processing_cpu_ms"], report["processing_cpu_p99_ms"])
    assert all(abs(c / 0.75 - 1) < 0.011 for c in cpu)  # 0.5 + 0.25 every hit
    assert abs(report["inference_p99_ms"] / 1.99 - 1) < 0.011 and report["refine_cpu_p99_ms"] > 0
