"""Hit events for the sink tests (the engine's contract, :class:`scrapl_live.live.events.HitEvent`)."""

from __future__ import annotations

import numpy as np

from scrapl_live.live.events import HitEvent


def event(t_samples: int, velocity: float, theta: np.ndarray | list[float], hit_id: int = 1, stage: int = 0,
          final: bool = True, label: str | None = None, confidence: float | None = None) -> HitEvent:
    """A prediction of hit ``hit_id`` at onset ``t_samples`` (params are not read by the sinks)."""
    return HitEvent(hit_id, t_samples, velocity, np.asarray(theta, np.float32), {}, stage, final, label,
                    confidence)
