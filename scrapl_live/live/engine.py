"""The live engine: audio blocks in → onsets/analysis → encoder → voices, MIDI, plugins → audio blocks out.

One :meth:`Engine.process_block` call is the whole per-block pipeline; live mode calls it from a
worker thread fed by the audio callback's ring buffers, file mode calls it in a loop over a file.
Heavy work (encoder + voice rendering, a few ms) is a *job*: run inline in file mode (deterministic)
or on an inference thread in live mode (``async_inference=True``), so the block loop never waits on
it; finished jobs are applied — sinks called, voices started — at the next block boundary, always on
the block thread, so sinks never see two threads.

Modes follow the model card's synth: ``tr808`` → one job per detected hit on the W samples after the
onset; ``granular`` → a job every ``analysis_hop_s`` on the latest W samples, θ smoothed per block and
played by a streaming :class:`GranularVoice`.
"""

from __future__ import annotations

import logging
import math
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.audio import resample
from scrapl_live.live.latency import LatencyStats
from scrapl_live.live.model import LoadedModel, ModelSlot, load_model
from scrapl_live.live.onset import OnsetDetector
from scrapl_live.live.sinks import AudioSink, ClosableSink, HitSink, ParamSink
from scrapl_live.live.voices import GranularVoice, OneShotMixer, ParamSmoother

log = logging.getLogger(__name__)

MODES = {"tr808": "hits", "granular": "texture"}
LIVE_SYNTH_OPTIONS: dict[str, dict[str, int]] = {"tr808": {"pre_delay": 0, "max_shift": 0}}
"""Synth options for playback: the 808's training-time pre-delay would only add latency live."""
HEAD_SAMPLES = 2048
"""One-shot head rendered first (synth rate): 46 ms of sound in ~2 ms, while the rest renders."""


@dataclass
class Hit:
    """One analysed hit (or texture frame): onset, window level, θ̂, and the voice to play."""

    t_samples: int
    velocity: float
    theta: np.ndarray
    params: dict[str, float]
    voice: np.ndarray | None = field(default=None, repr=False)
    voice_gain: float = 1.0
    detected_at: float = 0.0  # perf_counter when the job was queued
    inference_ms: float = 0.0
    render_ms: float = 0.0
    slot: tuple[int, int] | None = None  # mixer (slot, token) once the voice plays


@dataclass
class VoiceTail:
    """The full one-shot of ``hit`` (engine rate), rendered after its head started playing."""

    hit: Hit
    voice: np.ndarray = field(repr=False)


class Engine:
    """Streaming resynthesis engine at ``sample_rate`` with fixed ``block_size`` blocks.

    model: path of an ONNX encoder (or a :class:`LoadedModel`); sinks: any mix of
    :mod:`scrapl_live.live.sinks` roles; play_voices: mix our DDSP voices into the output.
    """

    def __init__(self, model: str | Path | LoadedModel, sample_rate: int, block_size: int = 256,
                 sinks: Sequence[object] = (), play_voices: bool = True, threads: int = 1,
                 async_inference: bool = False, max_voices: int = 8, analysis_hop_s: float = 0.5,
                 smoothing_s: float = 0.3, seed: int = 0) -> None:
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
        head = min(self.synth.n_samples, HEAD_SAMPLES)
        self.head_synth = None
        if self.mode == "hits":
            self.head_synth = synths.get(loaded.synth, **options, n_samples=head).eval()
        self._head_guard = 64  # resampling edge samples dropped from the head's end
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
        self._waiting: list[tuple[int, float]] = []  # (onset, perf_counter at detection), window incomplete
        self._done: queue.SimpleQueue[Hit] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[tuple | None] | None = None
        self._worker: threading.Thread | None = None
        if async_inference:
            self._jobs = queue.SimpleQueue()
            self._worker = threading.Thread(target=self._job_loop, name="scrapl-inference", daemon=True)
            self._worker.start()
        self.hits: list[Hit] = []
        self.latency = LatencyStats()
        self.errors = 0
        self.capture: Any | None = None
        """Optional capture tap (``finetune.LiveCapture``): ``feed(block, t0)`` gets every input block on
        the block thread, ``hit(start, θ̂ (U,), metadata)`` every analysed hit on the inference thread;
        neither may block."""
        self._outstanding = 0  # jobs submitted but not yet applied
        self._n_jobs = 0
        if self.head_synth is not None:  # first renders are slow (allocations, caches): warm both now
            for is_head in (True, False):
                self._render(np.full(len(self.specs), 0.5, np.float32), 0, head=is_head)
        self._lag_ms: dict[int, float] = {}

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
        if self.mode == "hits":
            self._waiting.extend((int(o), time.perf_counter()) for o in self.detector.process(x))
            for onset, t_det in [w for w in self._waiting if w[0] + self.window <= self._t]:
                self._submit(model, onset, t_det)
            self._waiting = [w for w in self._waiting if w[0] + self.window > self._t]
        else:
            self._level += 0.05 * (float(np.sqrt(np.mean(x**2))) - self._level)
            if self._t >= self._next_analysis:
                self._next_analysis += self._hop
                self._submit(model, self._t - self.window, time.perf_counter())
        while not self._done.empty():
            self._apply(self._done.get())
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

    # ------------------------------------------------------------------------------------ jobs
    def _window(self, start: int) -> np.ndarray:
        """Copy of the input history [start, start + window) (zeros before the first sample)."""
        idx = (start + np.arange(self.window)) % self._hist.size
        win = self._hist[idx]
        if start < 0:
            win[: -start] = 0.0
        return win

    def _submit(self, model: LoadedModel, start: int, t_det: float) -> None:
        # samples the job came later than the end of its window (detector look-ahead, block rounding)
        self._lag_ms[start] = 1e3 * (self._t - start - self.window) / self.sample_rate
        self._outstanding += 1
        self._n_jobs += 1
        job = (model, start, self._window(start), t_det, self._seed + self._n_jobs)
        if self._jobs is not None:
            self._jobs.put(job)
        else:  # inline (file mode): apply each part at once, so the head is not held back by the tail
            for item in self._run_job(*job):
                self._apply(item)

    def _job_loop(self) -> None:
        while (job := self._jobs.get()) is not None:
            try:
                for item in self._run_job(*job):
                    self._done.put(item)
            except Exception as exc:  # keep the inference thread alive whatever one job does
                self.errors += 1
                self._outstanding -= 1
                log.error("inference job failed: %s", exc)

    def _render(self, theta: np.ndarray, seed: int, head: bool) -> np.ndarray:
        """Voice for θ at the engine rate: only its first ``head_samples`` (fast) or the whole one-shot."""
        synth = self.head_synth if head else self.synth
        with self.torch.no_grad():
            voice = synth(self.torch.from_numpy(theta[None]), self.torch.tensor([seed]))[0, 0].numpy()
        voice = resample(voice, synth.sample_rate, self.sample_rate)
        return voice[: -self._head_guard] if head else voice

    def _run_job(self, model: LoadedModel, start: int, win: np.ndarray, t_det: float, seed: int):  # noqa: ANN202
        """Encoder (+ voice in hit mode) for one window (engine rate). Yields Hit, then the full voice.

        The voice comes in two parts so that it starts sounding after a short render: the head (first
        ``head_samples``, equal to the start of the full render) with the Hit, then the whole voice.
        """
        t0 = time.perf_counter()
        x = resample(win, self.sample_rate, model.sample_rate)
        x = np.pad(x, (0, max(0, model.window - x.size)))[: model.window]
        theta = model.infer(x)
        if self.capture is not None:
            self._call(self.capture.hit, start, theta,
                       {"start_s": start / self.sample_rate, "model": str(model.path), "synth": model.synth})
        t1 = time.perf_counter()
        peak = float(np.max(np.abs(win))) if win.size else 0.0
        velocity = float(np.clip((20 * np.log10(peak + 1e-9) + 60.0) / 60.0, 0.0, 1.0))
        hit = Hit(start, velocity, theta, self._physical(theta), detected_at=t_det,
                  inference_ms=1e3 * (t1 - t0))
        if self.mode != "hits" or not self.play_voices:
            yield hit
            return
        head = self._render(theta, seed, head=True)
        hit.voice = head
        hit.voice_gain = min(peak / max(float(np.max(np.abs(head))), 1e-4), 10.0)
        hit.render_ms = 1e3 * (time.perf_counter() - t1)
        yield hit
        yield VoiceTail(hit, self._render(theta, seed, head=False))

    def _apply(self, item: Hit | VoiceTail) -> None:
        """Block thread: start/extend the voice, update texture targets, notify sinks, record latency."""
        if isinstance(item, VoiceTail):
            self._outstanding -= 1
            if item.hit.slot is not None:
                self.mixer.extend(*item.hit.slot, item.voice, item.hit.voice_gain)
            return
        hit = item
        self.hits.append(hit)
        self.latency.add(hit, time.perf_counter(), self._lag_ms.pop(hit.t_samples, 0.0))
        if hit.voice is None:
            self._outstanding -= 1
        else:
            hit.slot = self.mixer.trigger(hit.voice, hit.voice_gain, final=False)
        if self.mode == "texture":
            self.smoother.set_target(hit.theta)
            return
        for sink in self.sinks:
            if isinstance(sink, HitSink):
                self._call(sink.on_hit, hit.t_samples, hit.velocity, hit.theta, hit.params)

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
        """Apply every submitted job, waiting for the inference thread (file mode end, tests)."""
        deadline = time.perf_counter() + timeout_s
        while self._outstanding > 0 and time.perf_counter() < deadline:
            try:
                self._apply(self._done.get(timeout=0.05))
            except queue.Empty:
                continue

    def close(self) -> None:
        """Stop the inference thread and file watcher, close sinks that hold resources."""
        if self._jobs is not None and self._worker is not None:
            self._jobs.put(None)
            self._worker.join(timeout=5)
        self.slot.stop()
        for sink in self.sinks:
            if isinstance(sink, ClosableSink):
                self._call(sink.close)
