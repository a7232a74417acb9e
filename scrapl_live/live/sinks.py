"""Output sink interfaces of the live engine (what the engine does with each prediction).

The engine (``scrapl_live.live.engine.Engine``) calls sinks from its worker thread, never from the
audio callback, so a sink may allocate, take locks or do I/O, but it should return quickly (a few
milliseconds) because it shares the thread with analysis, inference and rendering.

Times are absolute sample indices at the engine's sample rate (``Engine.sample_rate``), counted from
the first sample the engine processed; sinks that need seconds are given the sample rate when they
are constructed.  ``theta`` is the encoder output in the normalised domain, shape (U,), float32 in
[0, 1]; ``params`` maps each parameter name of the synth's ``ParamSpec`` list to its physical value
(Hz, ms, dB, ...), in the same order as ``theta``.

Three roles, any combination per sink (the engine checks with ``isinstance``):

* ``HitSink.on_hit`` / ``on_refine`` — the first prediction of each detected hit (hit mode) and each
  later refinement of it (:class:`~scrapl_live.live.events.HitEvent`): MIDI note + CCs, plugin note.
* ``ParamSink.on_params`` — continuous parameter updates (granular mode), already smoothed.
* ``AudioSink.render``  — adds or processes audio in the engine's output block in place (a plugin
  instrument renders its notes into it, an effect processes it).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from scrapl_live.live.events import HitEvent


@runtime_checkable
class HitSink(Protocol):
    """Receives the predictions of each detected hit."""

    def on_hit(self, event: HitEvent) -> None:
        """The first prediction of a hit (``event.stage == 0``), as soon as its first window is heard."""
        ...

    def on_refine(self, event: HitEvent) -> None:
        """A refinement of a hit already announced by ``on_hit`` (same ``hit_id``, ``stage >= 1``)."""
        ...


@runtime_checkable
class ParamSink(Protocol):
    """Receives continuous (smoothed) parameter updates, at most once per engine block."""

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        """Parameters valid from ``t_samples`` on; theta: (U,) float32 in [0, 1]."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Adds its audio to, or processes, the engine's output block in place."""

    def render(self, block: np.ndarray, t_samples: int) -> None:
        """block: (frames,) float32 mono at the engine sample rate, starting at ``t_samples``.

        Modify ``block`` in place (``block += ...`` for an instrument, ``block[:] = fx(block)`` for an
        effect); do not keep a reference to it after returning.
        """
        ...


@runtime_checkable
class ClosableSink(Protocol):
    """A sink holding resources (ports, files): the engine calls ``close()`` once when it stops."""

    def close(self) -> None:
        """Release ports/files; flush pending data (e.g. write the MIDI file)."""
        ...


Sink = HitSink | ParamSink | AudioSink
"""Anything the engine accepts in its ``sinks`` list."""
