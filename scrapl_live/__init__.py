"""scrapl-live: SCRAPL scattering loss, differentiable synths and a live audio-to-synth bridge.

Heavy modules (torch) load lazily so that ``scrapl-live --help`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_LAZY = {
    "JTFS": "scrapl_live.scattering",
    "SCRAPLLoss": "scrapl_live.loss",
    "Encoder": "scrapl_live.encoder",
    "OnnxEncoder": "scrapl_live.encoder",
}

__all__ = ["JTFS", "SCRAPLLoss", "Encoder", "OnnxEncoder", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'scrapl_live' has no attribute {name!r}")
