"""Plugin host (pedalboard): built-in effects or VST3 effects/instruments driven by predictions.

A plugin is named ``builtin:<Class>`` (``builtin:Reverb``, ``builtin:LadderFilter``, ...) or by the
path of a VST3 bundle. The mapping's ``plugin`` keys pick the plugin parameters; θ ∈ [0, 1] is mapped
onto ``range`` (or, by default, the parameter's own range: ``plugin.parameters[name].range`` for VST3,
:data:`BUILTIN_RANGES` for the built-ins, which expose no ranges) and set as ``plugin.<name> = value``.
Effects process the engine's output block; instruments receive one note per hit and add their audio.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.control.mapping import Mapping, ParamMap, check_theta
from scrapl_live.live.events import HitEvent

log = logging.getLogger(__name__)

# Useful value ranges of the built-in plugins' parameters (pedalboard exposes none for built-ins; some
# setters reject values outside their valid range). A mapping's ``range`` overrides these end points.
BUILTIN_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "Reverb": {n: (0.0, 1.0) for n in ("room_size", "damping", "wet_level", "dry_level", "width")},
    "LadderFilter": {"cutoff_hz": (20.0, 20000.0), "resonance": (0.0, 1.0), "drive": (1.0, 10.0)},
    "Chorus": {"rate_hz": (0.01, 20.0), "depth": (0.0, 1.0), "centre_delay_ms": (1.0, 50.0),
               "feedback": (-0.95, 0.95), "mix": (0.0, 1.0)},
    "Phaser": {"rate_hz": (0.01, 20.0), "depth": (0.0, 1.0), "centre_frequency_hz": (20.0, 20000.0),
               "feedback": (-0.95, 0.95), "mix": (0.0, 1.0)},
    "Distortion": {"drive_db": (0.0, 60.0)},
    "Compressor": {"threshold_db": (-60.0, 0.0), "ratio": (1.0, 20.0), "attack_ms": (0.1, 100.0),
                   "release_ms": (10.0, 1000.0)},
    "Limiter": {"threshold_db": (-60.0, 0.0), "release_ms": (1.0, 1000.0)},
    "NoiseGate": {"threshold_db": (-100.0, 0.0), "ratio": (1.0, 20.0), "attack_ms": (0.1, 100.0),
                  "release_ms": (10.0, 1000.0)},
    "Delay": {"delay_seconds": (0.0, 2.0), "feedback": (0.0, 1.0), "mix": (0.0, 1.0)},
    "Gain": {"gain_db": (-60.0, 24.0)},
    "Clipping": {"threshold_db": (-60.0, 0.0)},
    "Bitcrush": {"bit_depth": (1.0, 16.0)},
    "PitchShift": {"semitones": (-12.0, 12.0)},
    "LowpassFilter": {"cutoff_frequency_hz": (20.0, 20000.0)},
    "HighpassFilter": {"cutoff_frequency_hz": (20.0, 20000.0)},
}


def load_plugin(spec: str | Path) -> Any:
    """``builtin:<Class>`` → a new pedalboard built-in; a path → ``pedalboard.load_plugin(path)``."""
    import pedalboard

    spec = str(spec)
    if spec.startswith("builtin:"):
        name = spec.split(":", 1)[1]
        cls = getattr(pedalboard, name, None)
        if not (isinstance(cls, type) and issubclass(cls, pedalboard.Plugin)) or name not in BUILTIN_RANGES:
            raise ValueError(f"plugin: unknown built-in {name!r}; available: {sorted(BUILTIN_RANGES)}")
        return cls()
    path = Path(spec).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"plugin: no plugin file or bundle at {path}")
    _skip_midi_cc_proxies()
    try:
        return pedalboard.load_plugin(str(path))
    except ImportError as exc:  # pedalboard's error for files that are not loadable plugins
        raise ValueError(f"plugin: {path} is not a loadable VST3/AU plugin: {exc}") from exc


# DPF's VST3 wrapper exposes 16 x 130 "MIDI Ch. <n> CC <m>" proxy parameters on every instrument.
# pedalboard probes every parameter over 1001 values when a plugin loads (minutes for 2080 proxies) and
# skips only the proxies matching its PARAMETER_NAME_REGEXES_TO_IGNORE (JUCE's "MIDI CC ..."), so DPF's
# pattern is added to that set before loading.
_DPF_MIDI_CC_PROXY = re.compile(r"MIDI Ch\. \d+ CC \d+$")


def _skip_midi_cc_proxies() -> None:
    from pedalboard import _pedalboard

    _pedalboard.PARAMETER_NAME_REGEXES_TO_IGNORE.add(_DPF_MIDI_CC_PROXY)


def parameter_names(plugin: Any) -> list[str]:
    """Names of the plugin's parameters (built-ins: those with a range in :data:`BUILTIN_RANGES`)."""
    params = getattr(plugin, "parameters", None)
    return list(BUILTIN_RANGES.get(type(plugin).__name__, {}) if params is None else params)


def parameter_range(plugin: Any, name: str) -> tuple[float, float]:
    """(min, max) of the numeric parameter ``name``; ValueError naming it if unknown or not numeric."""
    params = getattr(plugin, "parameters", None)
    if params is None:
        ranges = BUILTIN_RANGES.get(type(plugin).__name__, {})
        if name not in ranges:
            raise ValueError(f"plugin parameter {name!r} unknown; available: {sorted(ranges)}")
        return ranges[name]
    if name not in params:
        raise ValueError(f"plugin parameter {name!r} unknown; available: {sorted(params)}")
    param = params[name]
    if param.type is not float:
        raise ValueError(f"plugin parameter {name!r} is not numeric (type {param.type.__name__})")
    return float(param.min_value), float(param.max_value)


class PluginSink:
    """Drives one plugin from predictions; a live-engine sink (hit, params, audio and close roles).

    Effect: ``on_hit``/``on_refine``/``on_params`` queue its parameters, ``render`` sets the due ones at
    the block boundary and processes the output block in place.  Instrument: ``on_hit`` also queues a
    note (velocity from the hit, note/length from the mapping), ``render`` adds the instrument's audio
    to the block.  Predictions take effect in the block holding their time (a hit's onset; in live
    mode that has passed, so the next block).  Audio is mono (frames,) float32 at ``sample_rate``;
    stereo plugins get the block on both channels and their output is averaged.
    """

    def __init__(
        self, plugin: str | Path | Any, mapping: Mapping, param_names: Sequence[str], sample_rate: int
    ) -> None:
        """``plugin``: a spec for :func:`load_plugin` or a pedalboard plugin object."""
        mapping.check_names(param_names)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.plugin = load_plugin(plugin) if isinstance(plugin, str | Path) else plugin
        self.mapping = mapping
        self.param_names = list(param_names)
        self.sample_rate = int(sample_rate)
        self.is_instrument = bool(getattr(self.plugin, "is_instrument", False))
        self._targets: list[tuple[int, ParamMap, float, float]] = []  # (theta index, map, lo, hi)
        for i, name in enumerate(self.param_names):
            pm = mapping.get(name)
            if pm is None or pm.plugin is None:
                continue
            try:
                lo, hi = parameter_range(self.plugin, pm.plugin)
            except ValueError as exc:
                raise ValueError(f"mapping: params.{name}.plugin = {pm.plugin!r}: {exc}") from exc
            if pm.range is not None:
                lo, hi = pm.range
            if pm.scale == "log" and min(lo, hi) <= 0:
                raise ValueError(f"mapping: params.{name}.scale = 'log' needs a range > 0, got {lo}..{hi}")
            self._targets.append((i, pm, lo, hi))
        self._channels = 2 if self.is_instrument else self._probe_channels()
        self._events: list[tuple[int, bytes]] = []  # queued MIDI for an instrument: (t_samples, bytes)
        self._params: list[tuple[int, np.ndarray]] = []  # queued parameter sets: (t_samples, θ)

    def _probe_channels(self) -> int:
        """Channel count the effect accepts: 2 (stereo) if it can, else 1."""
        silence = np.zeros((2, 64), dtype=np.float32)
        try:
            self.plugin(silence, self.sample_rate, reset=True)
            return 2
        except ValueError:
            return 1

    def set_params(self, theta: np.ndarray) -> dict[str, float]:
        """Set every mapped plugin parameter from θ: (U,) in [0, 1]; returns {plugin param: value set}."""
        theta = check_theta(theta, len(self.param_names))
        values: dict[str, float] = {}
        for i, pm, lo, hi in self._targets:
            values[pm.plugin] = pm.plugin_value(theta[i], lo, hi)
            setattr(self.plugin, pm.plugin, values[pm.plugin])
        return values

    def on_hit(self, event: HitEvent) -> None:
        """Queue the parameters; an instrument also queues note-on at the onset, note-off after the note."""
        self._queue_params(event.t_samples, event.theta)
        t_samples, velocity = event.t_samples, event.velocity
        if self.is_instrument:
            t_off = t_samples + self.mapping.note_samples(self.sample_rate)
            # end a still-queued earlier note no later than this hit, so the new one is not cut short
            self._events = [(min(t, t_samples) if m[0] & 0xF0 == 0x80 else t, m) for t, m in self._events]
            self._events += [(t_samples, bytes(self.mapping.note_on_bytes(velocity, event.label))),
                             (t_off, bytes(self.mapping.note_off_bytes(event.label)))]

    def on_refine(self, event: HitEvent) -> None:
        """A refined prediction: queue its parameters (set at the next block boundary)."""
        self._queue_params(event.t_samples, event.theta)

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        """Continuous updates: queue the parameters."""
        self._queue_params(t_samples, theta)

    def _queue_params(self, t_samples: int, theta: np.ndarray) -> None:
        theta = check_theta(theta, len(self.param_names))  # a bad θ fails in the caller, not in render
        if self._targets:
            self._params.append((int(t_samples), theta))

    def _apply_due(self, end: int) -> None:
        """Set the queued parameters due before sample ``end`` (the latest of them wins)."""
        due = [th for t, th in self._params if t < end]
        if due:
            self._params = [(t, th) for t, th in self._params if t >= end]
            self.set_params(due[-1])

    def process(self, audio: np.ndarray) -> np.ndarray:
        """Run mono audio (N,) through the effect, keeping its state between calls → (N,) float32."""
        if self.is_instrument:
            raise ValueError("plugin: process() needs an effect; this plugin is an instrument")
        x = np.asarray(audio, dtype=np.float32)
        if x.ndim != 1:
            raise ValueError(f"audio must be mono with shape (N,), got {x.shape}")
        y = self.plugin(np.repeat(x[None], self._channels, 0), self.sample_rate, buffer_size=max(len(x), 1),
                        reset=False)
        y = y.mean(axis=0) if y.ndim == 2 else y
        if len(y) < len(x):  # the plugin held samples back (latency): they arrive in later blocks
            y = np.concatenate([np.zeros(len(x) - len(y), np.float32), y])
        return y.astype(np.float32, copy=False)

    def play(self, frames: int, t_samples: int) -> np.ndarray:
        """Instrument: ``frames`` samples from ``t_samples``, playing the notes due by then → (frames,)."""
        end = t_samples + frames
        due = [(m, max(t - t_samples, 0) / self.sample_rate) for t, m in self._events if t < end]
        self._events = [(t, m) for t, m in self._events if t >= end]
        y = self.plugin(due, duration=frames / self.sample_rate, sample_rate=self.sample_rate,
                        num_channels=self._channels, buffer_size=max(frames, 1), reset=False)
        out = np.zeros(frames, dtype=np.float32)
        mono = y.mean(axis=0)[:frames]
        out[: len(mono)] = mono
        return out

    def render(self, block: np.ndarray, t_samples: int) -> None:
        """Engine output block (frames,) float32 from ``t_samples``, in place: set the parameters due in it,
        then add the instrument, or apply the effect."""
        self._apply_due(t_samples + len(block))
        if self.is_instrument:
            block += self.play(len(block), t_samples)
        else:
            block[:] = self.process(block)

    def close(self) -> None:
        """Drop queued notes and parameters, reset the plugin's internal state (tails, filters)."""
        self._events.clear()
        self._params.clear()
        self.plugin.reset()
