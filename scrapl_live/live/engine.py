"""The live engine: audio blocks in → a mode (hits or texture) → voices, MIDI, plugins → audio blocks out.

One :meth:`Engine.process_block` call is the whole per-block pipeline; live mode calls it from a
worker thread fed by the audio callback's ring buffers, file mode calls it in a loop over a file.
The engine core keeps the input history, the model slot (hot swap), the job queue, the sinks, the
output limiter and the bounded live state; what happens to the input is a *mode* chosen from the
model card's synth (:data:`MODES`):

* hit mode (:mod:`scrapl_live.live.hits`, tr808): one voice and one :class:`HitEvent` per detected hit,
  predicted from a short first window and refined as more of the hit is heard;
* texture mode (:mod:`scrapl_live.live.texture`, granular): periodic analyses steering a streaming
  texture and continuous parameter updates.

A mode is an object with ``latency`` (samples the output is delayed by in file mode, so that voices
land on their onsets), ``process(x, t0, model)`` (analyse the new input block) and
``render_into(out)`` (mix its voices into the output block).  Work that may not run in an audio block
is a *job* returning a closure; jobs run inline in file mode (deterministic) or on a job thread in live
mode (``async_inference=True``), and their closures run at the next block boundary on the block thread,
so sinks never see two threads.
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from scrapl_live.audio import resample
from scrapl_live.live.events import HitEvent
from scrapl_live.live.jobs import JobQueue
from scrapl_live.live.latency import LatencyStats
from scrapl_live.live.limiter import OutputLimiter
from scrapl_live.live.model import LoadedModel, ModelSlot, load_model
from scrapl_live.live.sinks import AudioSink, ClosableSink, HitSink

log = logging.getLogger(__name__)

MODES = {"tr808": "scrapl_live.live.hits:HitMode", "granular": "scrapl_live.live.texture:TextureMode"}
"""The live mode of each synth a model card may name."""
LIVE_SYNTH_OPTIONS: dict[str, dict[str, int]] = {"tr808": {"pre_delay": 0, "max_shift": 0}}
"""Synth options for playback: the 808's training-time pre-delay would only add latency live."""
HISTORY = 256
"""Hits kept in :attr:`Engine.recent_hits` (the live view's table; the count is :attr:`Engine.n_hits`)."""


class Mode(Protocol):
    """What the engine asks of a mode (see the module docstring)."""

    name: str
    synth: Any
    latency: int

    def process(self, x: np.ndarray, t0: int, model: LoadedModel) -> None: ...

    def render_into(self, out: np.ndarray) -> None: ...


class Engine:
    """Streaming resynthesis engine at ``sample_rate`` with fixed ``block_size`` blocks.

    model: path of an ONNX encoder (or a :class:`LoadedModel`); sinks: any mix of
    :mod:`scrapl_live.live.sinks` roles; play_voices: mix our DDSP voices into the output;
    async_inference: run jobs on a job thread (live) instead of inline (file mode);
    job_priority: SCHED_FIFO priority of the job thread (see :mod:`scrapl_live.live.realtime`);
    lookahead: file mode — delay the output by the mode's ``latency`` so every voice starts exactly at its
    hit's onset (:func:`scrapl_live.live.offline.run_signal` removes the delay again);
    classifier: a :class:`~scrapl_live.live.classify.DrumClassifier` for hit mode (default: the card's);
    history: hits kept in ``recent_hits``;
    options: the mode's own settings (hit mode: ``first_window``, ``refine``; texture mode:
    ``analysis_hop_s``, ``smoothing_s``).
    """

    def __init__(self, model: str | Path | LoadedModel, sample_rate: int, block_size: int = 256,
                 sinks: Sequence[object] = (), play_voices: bool = True, threads: int = 1,
                 async_inference: bool = False, max_voices: int = 8, seed: int = 0,
                 job_priority: int | None = None, lookahead: bool = False, classifier: Any | None = None,
                 history: int = HISTORY, **options: Any) -> None:
        if not isinstance(sample_rate, int) or sample_rate < 8000:
            raise ValueError(f"sample_rate must be an int >= 8000, got {sample_rate!r}")
        if not isinstance(block_size, int) or not 16 <= block_size <= 8192:
            raise ValueError(f"block_size must be an int in [16, 8192], got {block_size!r}")
        loaded = model if isinstance(model, LoadedModel) else load_model(model, threads)
        if loaded.synth not in MODES:
            raise ValueError(f"model {loaded.path}: synth {loaded.synth!r} has no live mode {sorted(MODES)}")
        self.sample_rate, self.block_size, self.play_voices = sample_rate, block_size, play_voices
        if classifier is None:  # the model card may name a drum-class head beside the encoder
            from scrapl_live.live.classify import classifier_for

            classifier = classifier_for(loaded, threads)
        self.max_voices, self.seed, self.lookahead, self.classifier = max_voices, seed, lookahead, classifier
        self.slot = ModelSlot(loaded, threads)
        self.sinks = list(sinks)
        self.window = math.ceil(loaded.window * sample_rate / loaded.sample_rate)  # full W, engine rate
        self.jobs: JobQueue[Callable[[], None]] = JobQueue(self._apply, self._job_failed,
                                                           threaded=async_inference, priority=job_priority)
        self.recent_hits: deque[HitEvent] = deque(maxlen=history)
        """The latest hits (each at its latest prediction) or texture frames, oldest first."""
        self.n_hits = 0
        self.latency = LatencyStats()
        self.limiter = OutputLimiter(sample_rate)
        self.errors = 0
        self.xruns = self.underruns = 0  # kept by the audio stream that drives the engine (live mode)
        self.capture: Any | None = None
        """Optional capture tap (``finetune.LiveCapture``): ``feed(block, t0)`` gets every input block on
        the block thread, ``hit(start, θ̂ (U,), metadata)`` every hit's final prediction on the job thread;
        neither may block."""
        self._next_id = 0
        module, cls = MODES[loaded.synth].split(":")
        try:
            self.strategy: Mode = getattr(importlib.import_module(module), cls)(self, **options)
        except TypeError as exc:
            raise ValueError(f"{loaded.synth} mode: {exc}") from exc
        self.mode, self.synth = self.strategy.name, self.strategy.synth
        self.specs = list(self.synth.params)
        self.delay = self.strategy.latency if lookahead else 0
        """Samples the output lags the input (file mode's look-ahead; 0 live)."""
        hist = 1 << max(self.delay + self.window + 8 * block_size + sample_rate // 4, 1).bit_length()
        self._hist = np.zeros(hist, dtype=np.float32)  # circular input history, absolute index mod len
        self._out = np.zeros(block_size, dtype=np.float32)
        self._t = 0  # absolute index of the next input sample

    # ------------------------------------------------------------------------------------ block loop
    def process_block(self, block: np.ndarray) -> np.ndarray:
        """Consume one input block (block_size,) float32, return the output block (a reused buffer)."""
        x = np.asarray(block, dtype=np.float32).reshape(-1)
        if x.shape[0] != self.block_size:
            raise ValueError(f"block must have {self.block_size} samples, got {x.shape[0]}")
        if not np.all(np.isfinite(x)):
            # a bad driver block must not kill the engine
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
            self.errors += 1
        model = self.slot.poll()  # block boundary: adopt a hot-swapped model
        pos = self._t % self._hist.size
        first = min(self.block_size, self._hist.size - pos)
        self._hist[pos : pos + first] = x[:first]
        self._hist[: self.block_size - first] = x[first:]
        t0, self._t = self._t, self._t + self.block_size
        if self.capture is not None:
            self.call(self.capture.feed, x, t0)
        self.jobs.apply_ready()
        try:
            self.strategy.process(x, t0, model)
        except Exception as exc:  # a failing analysis loses its events, never the stream
            self.errors += 1
            log.error("%s mode failed at sample %d: %s", self.mode, t0, exc)
        out = self._out
        out.fill(0.0)
        if self.play_voices:
            self.strategy.render_into(out)
        for sink in self.sinks:
            if isinstance(sink, AudioSink):
                self.call(sink.render, out, t0 - self.delay)
        if self.limiter.process(out):
            log.warning("output above full scale: the limiter reduces it by %.1f dB (the voices are louder "
                        "than 0 dBFS; lower the input level or the plugin/voice gain)",
                        self.limiter.max_reduction_db)
        return out

    def call(self, fn: Callable[..., object], *args: object) -> None:
        """Call a sink; a failing sink is logged and counted, never allowed to stop the engine."""
        try:
            fn(*args)
        except Exception as exc:  # a third-party sink may raise anything
            self.errors += 1
            log.error("sink %s failed: %s", getattr(fn, "__qualname__", fn), exc)

    # ------------------------------------------------------------------------------------ for the modes
    @property
    def t(self) -> int:
        """Absolute index of the next input sample (the end of the latest block)."""
        return self._t

    @property
    def analyser(self) -> LoadedModel:
        """The encoder the input is analysed with: in file mode the full-hit encoder the card names (hit
        mode, :func:`~scrapl_live.live.model.load_full_hit`), otherwise the playing model."""
        return getattr(self.strategy, "full_hit", None) or self.slot.current

    def window_at(self, start: int, n: int) -> np.ndarray:
        """Copy of the input history [start, start + n) (zeros before the first sample)."""
        idx = (start + np.arange(n)) % self._hist.size
        win = self._hist[idx]
        if start < 0:
            win[: -start] = 0.0
        return win

    def infer(self, model: LoadedModel, win: np.ndarray, n_model: int,
              sample_rate: int | None = None) -> np.ndarray:
        """θ̂ (U,) of a window at ``sample_rate`` (default the engine's), resampled to the model's rate and
        fitted to ``n_model``."""
        x = resample(win, sample_rate or self.sample_rate, model.sample_rate)
        x = np.pad(x, (0, max(0, n_model - x.size)))[:n_model]
        return model.infer(x)

    def model_window(self, n_model: int, model: LoadedModel | None = None) -> int:
        """A window of ``n_model`` samples at the model's rate, in samples at the engine rate."""
        model = model or self.slot.current
        return math.ceil(n_model * self.sample_rate / model.sample_rate)

    def physical(self, theta: np.ndarray) -> dict[str, float]:
        """θ (U,) → {parameter name: physical value}, through the synth's parameter specs."""
        return {s.name: float(s.to_physical(float(u))) for s, u in zip(self.specs, theta, strict=True)}

    def new_hit_id(self) -> int:
        """The next hit id (stable across a hit's refinements)."""
        self._next_id += 1
        return self._next_id

    def emit(self, event: HitEvent, timings: dict[str, tuple[float, float]] | None = None,
             wait_samples: int | None = None, total: str = "processing", notify: bool = True) -> None:
        """Record a prediction (``recent_hits``, ``n_hits``, latency parts summed into ``total``) and, with
        ``notify``, hand it to the hit sinks: ``on_hit`` for stage 0, ``on_refine`` after."""
        if event.stage == 0:
            self.n_hits += 1
            self.recent_hits.append(event)
        else:
            for i in range(len(self.recent_hits) - 1, -1, -1):
                if self.recent_hits[i].hit_id == event.hit_id:
                    self.recent_hits[i] = event
                    break
        if timings:
            self.latency.add(timings, wait_samples, total)
        if notify:
            for sink in self.sinks:
                if isinstance(sink, HitSink):
                    self.call(sink.on_hit if event.stage == 0 else sink.on_refine, event)

    def tap(self, start: int, theta: np.ndarray, model: LoadedModel) -> None:
        """Hand a final prediction to the capture tap (job thread), if any."""
        if self.capture is not None:
            self.call(self.capture.hit, start, theta,
                      {"start_s": start / self.sample_rate, "model": str(model.path), "synth": model.synth})

    # ------------------------------------------------------------------------------------ jobs
    def _job_failed(self, exc: Exception) -> None:
        self.errors += 1
        log.error("engine job failed: %s", exc)

    def _apply(self, finish: Callable[[], None] | None) -> None:
        """Block thread: run a finished job's closure (extend a voice, take a texture frame)."""
        if finish is not None:
            try:
                finish()
            except Exception as exc:  # a failing result is lost, never the stream
                self._job_failed(exc)

    # ------------------------------------------------------------------------------------ control
    def swap_model(self, path: str | Path, wait: bool = False) -> threading.Thread:
        """Hot swap: load + warm ``path`` on a side thread, play it from the next block (see ModelSlot)."""
        return self.slot.swap(path, wait=wait)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Apply every submitted job, waiting for the job thread (file mode end, tests)."""
        self.jobs.drain(timeout_s)

    def close(self) -> None:
        """Stop the job thread and file watcher, close sinks that hold resources."""
        self.jobs.close()
        self.slot.stop()
        for sink in self.sinks:
            if isinstance(sink, ClosableSink):
                self.call(sink.close)
