"""Live bridge: onset detection, ONNX inference with hot swap, voices, sinks; real time or file mode.

Exports load lazily so that ``scrapl-live --help`` does not import numpy-heavy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "Engine": "scrapl_live.live.engine",
    "LiveStream": "scrapl_live.live.stream",
    "OnsetDetector": "scrapl_live.live.onset",
    "RingBuffer": "scrapl_live.live.ringbuffer",
    "load_model": "scrapl_live.live.model",
    "resynth_file": "scrapl_live.live.offline",
    "run_signal": "scrapl_live.live.offline",
    "run_demo": "scrapl_live.live.demo",
    "HitEvent": "scrapl_live.live.events",
    "HitSink": "scrapl_live.live.sinks",
    "ParamSink": "scrapl_live.live.sinks",
    "AudioSink": "scrapl_live.live.sinks",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scrapl_live.live' has no attribute {name!r}")
