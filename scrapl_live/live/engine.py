"""The live engine: audio blocks in → onsets/analysis → encoder → voices, MIDI, plugins → audio blocks out.

One :meth:`Engine.process_block` call is the whole per-block pipeline; live mode calls it from a
worker thread fed by the audio callback's ring buffers, file mode calls it in a loop over a file.

tr808 mode (one event per detected hit) is latency-critical, so a hit is played *in the block in which
its W-sample analysis window completes*: encoder (~0.6 ms), then the first ``HEAD_SAMPLES`` of the voice
rendered in numpy (:class:`~scrapl_live.live.head808.TR808Head`, ~0.3 ms), sinks notified and the head
started in this very output block — no thread hand-off on the way.  Only the rest of the voice (the
torch synth, several ms) is a *job*; texture mode's analyses (every ``analysis_hop_s`` on the latest W
samples, θ smoothed per block, played by a streaming :class:`GranularVoice`) are jobs too.  Jobs run
inline in file mode (deterministic) or on a job thread in live mode (``async_inference=True``); their
results are applied at the next block boundary on the block thread, so sinks never see two threads.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.audio import resample
from scrapl_live.live.jobs import JobQueue
from scrapl_live.live.latency import LatencyStats, Stopwatch
from scrapl_live.live.model import LoadedModel, ModelSlot, load_model
from scrapl_live.live.onset import OnsetDetector
from scrapl_live.live.sinks import AudioSink, ClosableSink, HitSink, ParamSink
from scrapl_live.live.voices import GranularVoice, OneShotMixer, ParamSmoother

log = logging.getLogger(__name__)

MODES = {"tr808": "hits", "granular": "texture"}
LIVE_SYNTH_OPTIONS: dict[str, dict[str, int]] = {"tr808": {"pre_delay": 0, "max_shift": 0}}
"""Synth options for playback: the 808's training-time pre-delay would only add latency live."""
HEAD_SAMPLES = 2048
"""One-shot head rendered in numpy in the hit's own block (43 ms at 48 kHz) while the rest renders."""


@dataclass
class Hit:
    """One analysed hit (or texture frame): onset, window level, θ̂, the voice's head and its timings."""

    t_samples: int
    velocity: float
    theta: np.ndarray
    params: dict[str, float]
    voice: np.ndarray | None = field(default=None, repr=False)  # the head of a tr808 voice
    voice_gain: float = 1.0
    seed: int = 0
    timings: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Processing parts: name → (wall ms, thread-CPU ms) — detection, inference, render."""
    wait_samples: int = 0  # from the window's last sample to the end of its block (inside the input buffer)
    slot: tuple[int, int] | None = None  # mixer (slot, token) once the voice plays


@dataclass
class VoiceTail:
    """The full one-shot of ``hit`` (engine rate), rendered after its head started playing."""

    hit: Hit
    voice: np.ndarray = field(repr=False)


class Engine:
    """Streaming resynthesis engine at ``sample_rate`` with fixed ``block_size`` blocks.

    model: path of an ONNX encoder (or a :class:`LoadedModel`); sinks: any mix of
    :mod:`scrapl_live.live.sinks` roles; play_voices: mix our DDSP voices into the output;
    job_priority: SCHED_FIFO priority of the job thread (live mode; see :mod:`scrapl_live.live.realtime`).
    """

    def __init__(self, model: str | Path | LoadedModel, sample_rate: int, block_size: int = 256,
                 sinks: Sequence[object] = (), play_voices: bool = True, threads: int = 1,
                 async_inference: bool = False, max_voices: int = 8, analysis_hop_s: float = 0.5,
                 smoothing_s: float = 0.3, seed: int = 0, job_priority: int | None = None) -> None:
        if not isinstance(sample_rate, int) or sample_rate < 8000:
            raise ValueError(f"sample_rate must be an int >= 8000, got {sample_rate!r}")
        if not isinstance(block_size, int) or not 16 <= block_size <= 8192:
            raise ValueError(f"block_size must be an int in [16, 8192], got {block_size!r}")
        loaded = model if isinstance(model, LoadedModel) else load_model(model, threads)
        if loaded.synth not in MODES:
            raise ValueError(f"model {loaded.path}: synth {loaded.synth!r} has no live mode {sorted(MODES)}")
        import torch

        import synths

        self.torch = torch
        self.sample_rate, self.block_size, self.play_voices = sample_rate, block_size, play_voices
        self.slot = ModelSlot(loaded, threads)
        self.mode = MODES[loaded.synth]
        options = LIVE_SYNTH_OPTIONS.get(loaded.synth, {})
        self.synth = synths.get(loaded.synth, **options).eval()
        self.head = None
        if self.mode == "hits":  # one-shots are rendered at the engine rate: nothing to resample live
            seconds = self.synth.n_samples / self.synth.sample_rate
            self.synth = synths.get(loaded.synth, **options, sample_rate=sample_rate,
                                    n_samples=round(seconds * sample_rate)).eval()
            from scrapl_live.live.head808 import TR808Head

            self.head = TR808Head(self.synth, min(HEAD_SAMPLES, self.synth.n_samples))
        self.specs = list(self.synth.params)
        self.sinks = list(sinks)
        self.window = math.ceil(loaded.window * sample_rate / loaded.sample_rate)  # W at the engine rate
        hist = 1 << max(self.window + 8 * block_size + sample_rate // 4, 1).bit_length()
        self._hist = np.zeros(hist, dtype=np.float32)  # circular input history, absolute index mod len
        self._out = np.zeros(block_size, dtype=np.float32)
        self._t = 0  # absolute index of the next input sample
        self._seed = seed
        self.detector = OnsetDetector(sample_rate) if self.mode == "hits" else None
        voice_len = int(self.synth.n_samples * sample_rate / self.synth.sample_rate) + 1
        self.mixer = OneShotMixer(max_voices, voice_len)
        self.smoother = ParamSmoother(len(self.specs), sample_rate, block_size, smoothing_s)
        self.granular = None
        if self.mode == "texture":
            self.granular = GranularVoice(sample_rate, block_size, self._grain_amplitudes, seed=seed)
        self._level = 0.0  # smoothed input RMS driving the texture level
        self._hop = max(block_size, int(analysis_hop_s * sample_rate))
        self._next_analysis = self._hop  # first analyses see a zero-padded, partly filled window
        self._waiting: list[int] = []  # detected onsets whose window is not complete yet
        self.jobs: JobQueue[Hit | VoiceTail] = JobQueue(self._apply, self._job_failed,
                                                        threaded=async_inference, priority=job_priority)
        self.hits: list[Hit] = []
        self.latency = LatencyStats()
        self.errors = 0
        self.capture: Any | None = None
        """Optional capture tap (``finetune.LiveCapture``): ``feed(block, t0)`` gets every input block on
        the block thread, ``hit(start, θ̂ (U,), metadata)`` every analysed hit on the job thread;
        neither may block."""
        self._n_events = 0
        if self.head is not None:  # first renders are slow (allocations, caches): warm both now
            theta = np.full(len(self.specs), 0.5, np.float32)
            self.head.render(theta, 0)
            self._render(theta, 0)

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
            self._call(self.capture.feed, x, t0)
        self.jobs.apply_ready()
        if self.mode == "hits":
            watch = Stopwatch()
            self._waiting.extend(self.detector.process(x))
            detection = watch.lap()
            ready = [o for o in self._waiting if o + self.window <= self._t]
            if ready:
                self._waiting = [o for o in self._waiting if o + self.window > self._t]
            for onset in ready:
                try:
                    self._play_hit(model, onset, detection)
                except Exception as exc:  # a failing encoder or sink loses this hit, never the stream
                    self.errors += 1
                    log.error("hit at %d failed: %s", onset, exc)
        else:
            self._level += 0.05 * (float(np.sqrt(np.mean(x**2))) - self._level)
            if self._t >= self._next_analysis:
                self._next_analysis += self._hop
                start = self._t - self.window
                win = self._window(start)
                self.jobs.submit(lambda: self._analyse(model, start, win))
        out = self._out
        out.fill(0.0)
        theta = self.smoother.step() if self.mode == "texture" else None
        if self.play_voices and theta is None:
            self.mixer.mix_into(out)
        elif self.play_voices and self.smoother.primed:
            phys = self._physical(theta)
            self.granular.render_into(out, float(theta[0]), phys[self.specs[1].name], self._level)
        for sink in self.sinks:
            if theta is not None and self.smoother.primed and isinstance(sink, ParamSink):
                self._call(sink.on_params, t0, theta.copy(), self._physical(theta))
            if isinstance(sink, AudioSink):
                self._call(sink.render, out, t0)
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def _call(self, fn, *args) -> None:  # noqa: ANN001 - any sink method
        """Call a sink; a failing sink is logged and counted, never allowed to stop the engine."""
        try:
            fn(*args)
        except Exception as exc:  # a third-party sink may raise anything
            self.errors += 1
            log.error("sink %s failed: %s", getattr(fn, "__qualname__", fn), exc)

    # ------------------------------------------------------------------------------------ hits
    def _window(self, start: int) -> np.ndarray:
        """Copy of the input history [start, start + window) (zeros before the first sample)."""
        idx = (start + np.arange(self.window)) % self._hist.size
        win = self._hist[idx]
        if start < 0:
            win[: -start] = 0.0
        return win

    def _encode(self, model: LoadedModel, win: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window (W,) at the engine rate → (the model's input (W_model,), θ̂ (U,))."""
        x = resample(win, self.sample_rate, model.sample_rate)
        x = np.pad(x, (0, max(0, model.window - x.size)))[: model.window]
        return x, model.infer(x)

    def _play_hit(self, model: LoadedModel, onset: int, detection: tuple[float, float]) -> None:
        """Block thread, in the block that completed the hit's window: θ̂, the voice's head, sinks; the rest
        of the voice (and the capture tap) becomes a job."""
        watch = Stopwatch()
        win = self._window(onset)
        x, theta = self._encode(model, win)
        inference = watch.lap()
        peak = float(np.max(np.abs(win)))
        velocity = float(np.clip((20 * np.log10(peak + 1e-9) + 60.0) / 60.0, 0.0, 1.0))
        self._n_events += 1
        hit = Hit(onset, velocity, theta, self._physical(theta), seed=self._seed + self._n_events,
                  wait_samples=self._t - onset - self.window)
        if self.play_voices:
            hit.voice = self.head.render(theta, hit.seed)
            hit.voice_gain = min(peak / max(float(np.max(np.abs(hit.voice))), 1e-4), 10.0)
            hit.slot = self.mixer.trigger(hit.voice, hit.voice_gain, final=False)
        hit.timings = {"detection": detection, "inference": inference, "render": watch.lap()}
        self.hits.append(hit)
        self.latency.add(hit)
        for sink in self.sinks:
            if isinstance(sink, HitSink):
                self._call(sink.on_hit, hit.t_samples, hit.velocity, hit.theta, hit.params)
        if self.play_voices or self.capture is not None:
            self.jobs.submit(lambda: self._tail(hit, model))

    def _tail(self, hit: Hit, model: LoadedModel) -> VoiceTail | None:
        """Job: hand the hit to the capture tap, render its whole voice (torch synth)."""
        self._tap(hit.t_samples, hit.theta, model)
        return VoiceTail(hit, self._render(hit.theta, hit.seed)) if self.play_voices else None

    def _analyse(self, model: LoadedModel, start: int, win: np.ndarray) -> Hit:
        """Job (texture mode): θ̂ of the window starting at ``start``."""
        watch = Stopwatch()
        _, theta = self._encode(model, win)
        hit = Hit(start, 0.0, theta, self._physical(theta), timings={"inference": watch.lap()})
        self._tap(start, theta, model)
        return hit

    def _tap(self, start: int, theta: np.ndarray, model: LoadedModel) -> None:
        if self.capture is not None:
            self._call(self.capture.hit, start, theta,
                       {"start_s": start / self.sample_rate, "model": str(model.path), "synth": model.synth})

    def _render(self, theta: np.ndarray, seed: int) -> np.ndarray:
        """The whole one-shot for θ (U,) at the engine rate (the torch synth)."""
        with self.torch.no_grad():
            return self.synth(self.torch.from_numpy(theta[None]), self.torch.tensor([seed]))[0, 0].numpy()

    # ------------------------------------------------------------------------------------ jobs
    def _job_failed(self, exc: Exception) -> None:
        self.errors += 1
        log.error("engine job failed: %s", exc)

    def _apply(self, item: Hit | VoiceTail | None) -> None:
        """Block thread: extend a voice by its tail, or take a texture frame's θ̂ (sinks see it per block)."""
        if item is None:
            return
        if isinstance(item, VoiceTail):
            if item.hit.slot is not None:
                self.mixer.extend(*item.hit.slot, item.voice, item.hit.voice_gain)
            return
        self.hits.append(item)
        self.latency.add(item)
        self.smoother.set_target(item.theta)

    def _grain_amplitudes(self, density: float) -> np.ndarray:
        """The granular synth's grain amplitudes (K,) at a density in [0, 1]."""
        with self.torch.no_grad():
            return self.synth.amplitudes(self.torch.tensor([density], dtype=self.torch.float32))[0].numpy()

    def _physical(self, theta: np.ndarray) -> dict[str, float]:
        return {s.name: float(s.to_physical(float(u))) for s, u in zip(self.specs, theta, strict=True)}

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
                self._call(sink.close)
