"""Per-drum-class plugins: the mapping's ``[classes.<class>] plugin`` plays only the hits of that class.

:func:`class_plugin_sinks` builds one :class:`~scrapl_live.control.plugins.PluginSink` per routed class,
each wrapped in a :class:`ClassRouted` that hands it the hits of its class and the engine's audio
blocks (so an instrument renders, an effect processes).  A hit's class can change as more of it is
heard: each prediction goes to the plugin of the class it carries.  The first prediction (with the
note, for an instrument) goes to the first label's plugin; a refinement's parameters go to the plugin
of the refined label, so a hit first heard as a kick and refined to a snare sets the snare plugin's
parameters — no second note is played anywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from scrapl_live.control.mapping import Mapping
from scrapl_live.live.events import HitEvent


class ClassRouted:
    """A hit/audio/close sink that passes on only the predictions (first or refined) whose ``label`` is
    ``label``."""

    def __init__(self, label: str, sink: Any) -> None:
        self.label, self.sink = label, sink

    def on_hit(self, event: HitEvent) -> None:
        if event.label == self.label:
            self.sink.on_hit(event)

    def on_refine(self, event: HitEvent) -> None:
        if event.label == self.label:
            self.sink.on_refine(event)

    def render(self, block: np.ndarray, t_samples: int) -> None:
        self.sink.render(block, t_samples)

    def close(self) -> None:
        close = getattr(self.sink, "close", None)
        if close is not None:
            close()


def class_plugin_sinks(mapping: Mapping, param_names: Sequence[str], sample_rate: int) -> list[ClassRouted]:
    """One routed plugin sink per class the mapping gives a plugin (loading errors name the class)."""
    from scrapl_live.control.plugins import PluginSink

    sinks = []
    for label, spec in mapping.class_plugins().items():
        try:
            sinks.append(ClassRouted(label, PluginSink(spec, mapping, param_names, sample_rate)))
        except (ValueError, FileNotFoundError) as exc:
            raise ValueError(f"mapping: classes.{label}.plugin = {spec!r}: {exc}") from exc
    return sinks
