"""Differentiable synthesizers: the decoders of sound matching and the voices of live playback.

``synths.get(name, **options)`` builds a synth (an ``nn.Module``, see :class:`synths.base.Synth`);
``synths.names()`` lists the registered names.
"""

from __future__ import annotations

import importlib

from synths.base import ParamSpec, Synth

_REGISTRY: dict[str, str] = {
    "chirplet": "synths.chirplet:Chirplet",
    "granular": "synths.granular:Granular",
    "tr808": "synths.tr808:TR808",
}

__all__ = ["ParamSpec", "Synth", "get", "names"]


def names() -> list[str]:
    """Registered synth names, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **options: object) -> Synth:
    """Build the synth called ``name`` with constructor ``options``; unknown name → ValueError."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown synth name {name!r}; choose one of {names()}")
    module, cls = _REGISTRY[name].split(":")
    return getattr(importlib.import_module(module), cls)(**options)
