"""What the engine tells its sinks about a hit: one :class:`HitEvent` per prediction of it.

A hit is predicted first from a short window after its onset (``stage`` 0, :meth:`HitSink.on_hit`)
and then refined as more of it is heard (``stage`` 1, 2, ..., :meth:`HitSink.on_refine`); every event
of one hit carries the same ``hit_id`` and ``t_samples``, and the last one has ``final=True``.
A texture frame is one event with ``stage=0, final=True``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class HitEvent:
    """One prediction of one hit.

    hit_id: stable per hit across its refinements; t_samples: the hit's onset, absolute input sample
    index at the engine rate; velocity: [0, 1]; theta: (U,) float32 in [0, 1]; params: physical values
    by parameter name; stage: 0 = first prediction, 1.. = refinements; final: True on the hit's last
    prediction; label / confidence: drum class and the classifier's confidence in [0, 1], or None.
    """

    hit_id: int
    t_samples: int
    velocity: float
    theta: np.ndarray
    params: dict[str, float]
    stage: int
    final: bool
    label: str | None = None
    confidence: float | None = None
