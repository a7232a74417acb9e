"""Hit mode (tr808): one voice per detected hit, predicted early and refined as more of it is heard.

Each hit runs a *schedule* of analysis windows after its onset (:mod:`.schedule`: W₀, default 256
samples at the model's rate, then longer windows up to the longest the card lists, and the drum-class
head's own window where the encoder's schedule skips past it).  In the block in which a window
completes:

* stage 0 — encoder (and the drum classifier, if any) on W₀, the voice's first ``HEAD_SAMPLES``
  rendered in numpy (:class:`synths.tr808_numpy.TR808Numpy`, ~0.2 ms), voice started in this very
  output block, sinks told (``on_hit``); the rest of the voice is a job;
* refinement — a job (on the job thread in live mode): encoder and/or classifier on the longer window
  (the label may change; the note sent at stage 0 stays), then the voice re-rendered with the new θ̂
  from ``SPLICE_LEAD`` samples after its playing position; back on the block thread its closure splices
  it in with a crossfade (:meth:`OneShotMixer.splice`) and tells the sinks (``on_refine``).  The block
  thread only copies the window, so a block that starts a new hit's voice never waits for a refinement.

The voice is level-matched to the input over the heard window (at most ``HEAD_SAMPLES``).  In file
mode (``Engine(lookahead=True)``) only the full window is analysed, and the voice is placed exactly at
its onset: the output is delayed by :attr:`HitMode.latency`, which covers the full window plus the
detector's reporting delay.  When the model card names a full-hit encoder (``full_hit``: trained on a
whole hit, e.g. 1 s), file mode analyses each hit with it instead, on its window from the onset cut at the
next detected onset (the samples from there on are zeroed: another hit's attack is not this one's decay);
the stage waits for the detector's bound past the window, so every onset inside it has been reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import synths
from scrapl_live.audio import resample
from scrapl_live.live.engine import LIVE_SYNTH_OPTIONS, Engine
from scrapl_live.live.events import HitEvent
from scrapl_live.live.latency import Stopwatch
from scrapl_live.live.model import LoadedModel, load_full_hit
from scrapl_live.live.onset import OnsetDetector
from scrapl_live.live.schedule import BOTH, LABEL, THETA, encoder_windows, merged, plan
from scrapl_live.live.voices import OneShotMixer
from synths.tr808_numpy import TR808Numpy

log = logging.getLogger(__name__)

HEAD_SAMPLES = 2048
"""Voice samples rendered in the block of each prediction (43 ms at 48 kHz); the rest is a job."""
FIRST_WINDOWS = (128, 1024)
"""Allowed range of ``first_window`` (samples at the model's rate)."""
SPLICE_LEAD = 512
"""A refinement is spliced in this many samples after the voice's playing position when it was predicted
(time for the job thread to render it; a later job splices at the first unplayed sample instead)."""
MAX_PENDING = 64
"""Hits still waiting for a window at once; older ones are finished early (bounded state)."""


@dataclass
class _Hit:
    """A hit whose schedule is not finished: onset, windows left, the voice's slot."""

    hit_id: int
    onset: int
    windows: list[int]  # model-rate windows still to analyse, ascending
    kinds: dict[int, str]  # what each window's stage computes (schedule.BOTH / THETA / LABEL)
    seed: int
    stage: int = 0
    slot: tuple[int, int] | None = None  # mixer (slot, token)
    version: int = 0  # bumped by each refinement: a job rendered for an older θ̂ is dropped
    theta: np.ndarray | None = None  # the last prediction published (a class-only stage keeps its θ̂)
    label: str | None = None
    confidence: float | None = None


class HitMode:
    """The hit strategy of :class:`~scrapl_live.live.engine.Engine` (see the module docstring).

    first_window: W₀ in samples at the model's rate (128..1024); refine: analyse the longer windows too.
    """

    name = "hits"

    def __init__(self, engine: Engine, first_window: int = 256, refine: bool = True) -> None:
        if isinstance(first_window, bool) or not isinstance(first_window, int) or not (
            FIRST_WINDOWS[0] <= first_window <= FIRST_WINDOWS[1]
        ):
            lo, hi = FIRST_WINDOWS
            raise ValueError(f"first_window must be an int in {lo}..{hi} samples, got {first_window!r}")
        model = engine.slot.current
        self.engine, self.first_window, self.refine = engine, first_window, refine
        sr = engine.sample_rate
        base = synths.get(model.synth, **LIVE_SYNTH_OPTIONS.get(model.synth, {}))
        seconds = base.n_samples / base.sample_rate  # one-shots are rendered at the engine rate
        self.synth = synths.get(model.synth, **LIVE_SYNTH_OPTIONS.get(model.synth, {}), sample_rate=sr,
                                n_samples=round(seconds * sr)).eval()
        self.voice = TR808Numpy(self.synth)
        self.mixer = OneShotMixer(engine.max_voices, self.synth.n_samples)
        self.detector = OnsetDetector(sr)
        self.full_hit = load_full_hit(model, engine.slot.threads) if engine.lookahead else None
        """File mode's full-hit encoder, named by the card (None: the playing model analyses the hits)."""
        if self.full_hit is not None:
            model = self.full_hit
        full = engine.model_window(self.schedule(model)[-1], model)
        # file mode: an onset is reported at most the detector's bound plus one block after it
        self.latency = full + self.detector.max_delay_samples + engine.block_size
        self._pending: list[_Hit] = []
        self.voice.render(np.full(self.synth.n_params, 0.5, np.float32), 0)  # first render: allocations

    def schedule(self, model: LoadedModel) -> list[int]:
        """Encoder windows (model rate) a hit is analysed on: W₀, then the refinements (file mode: the full
        one)."""
        if self.engine.lookahead:
            return list(model.windows)[-1:]
        return encoder_windows(list(model.windows), model.any_window, self.first_window, self.refine)

    def stages(self, model: LoadedModel) -> list[tuple[int, str]]:
        """(window, what) of every stage (:func:`.schedule.plan`; model-rate windows): the encoder's
        schedule, and in live mode the drum-class head's own stage where the schedule skips past it."""
        clf, schedule = self.engine.classifier, self.schedule(model)
        if clf is None or self.engine.lookahead:
            return [(w, BOTH) for w in schedule]
        return plan(schedule, [clf.window_at(model.sample_rate, h) for h in clf.windows])

    # ------------------------------------------------------------------------------------ block thread
    def process(self, x: np.ndarray, t0: int, model: LoadedModel) -> None:
        """Detect onsets in the new block; run every stage whose window completed by its end."""
        watch = Stopwatch()
        onsets = self.detector.process(x)
        detection = watch.lap()
        # the full-hit window is cut at the next onset: wait until every onset inside it is reported
        wait = 0 if self.full_hit is None else self.detector.max_delay_samples
        model = self.full_hit or model
        for onset in onsets:
            kinds = dict(self.stages(model))
            hit_id = self.engine.new_hit_id()
            self._pending.append(_Hit(hit_id, int(onset), sorted(kinds), kinds, self.engine.seed + hit_id))
        if len(self._pending) > MAX_PENDING:
            self.engine.errors += len(self._pending) - MAX_PENDING
            log.error("%d hits waiting for their windows: dropping the oldest", len(self._pending))
            del self._pending[: len(self._pending) - MAX_PENDING]
        end = self.engine.t
        for hit in list(self._pending):
            ready = [w for w in hit.windows if hit.onset + self.engine.model_window(w, model) + wait <= end]
            if not ready:
                continue
            # several windows complete in one block (long blocks): the longest one is enough, computing
            # whatever the skipped stages were to
            hit.windows = [w for w in hit.windows if w > ready[-1]]
            kind = merged([hit.kinds[w] for w in ready])
            try:
                self._predict(hit, model, ready[-1], kind, detection if hit.stage == 0 else None)
            except Exception as exc:  # a failing encoder loses this prediction, never the stream
                self.engine.errors += 1
                log.error("hit at %d failed: %s", hit.onset, exc)
                hit.windows = []
            if not hit.windows:
                self._pending.remove(hit)

    def _predict(self, hit: _Hit, model: LoadedModel, n_model: int, kind: str,
                 detection: tuple[float, float] | None) -> None:
        """One stage of ``hit`` on its first ``n_model`` samples, computing ``kind`` (schedule.BOTH /
        THETA / LABEL): stage 0 here (θ̂, the voice started, sinks told); a refinement as a job
        (:meth:`_refinement`), so a block that starts another hit's voice never waits for it."""
        eng = self.engine
        n = eng.model_window(n_model, model)
        win = eng.window_at(hit.onset, n)
        if self.full_hit is not None:  # another hit's attack is not this one's decay
            after = next((h.onset for h in self._pending if h.onset > hit.onset), hit.onset + n)
            win[min(after - hit.onset, n):] = 0.0
        stage, final = hit.stage, not hit.windows
        hit.stage += 1
        peak, level_n = float(np.max(np.abs(win[:HEAD_SAMPLES]))), min(n, HEAD_SAMPLES)
        if stage > 0:
            eng.jobs.submit(self._refinement(hit, model, win, n_model, kind, stage, final, peak, level_n))
            return
        watch = Stopwatch()
        theta, label, confidence = self._analyse(model, win, n_model, kind)
        inference = watch.lap()
        rest = self._voice(hit, theta, peak, level_n) if eng.play_voices else None
        render = watch.lap()
        timings = {"detection": detection, "inference": inference, "render": render}
        self._publish(hit, model, win, theta, label, confidence, stage, final, timings, eng.t - hit.onset - n)
        if rest is not None:
            eng.jobs.submit(rest)

    def _analyse(self, model: LoadedModel, win: np.ndarray, n_model: int,
                 kind: str) -> tuple[np.ndarray | None, str | None, float | None]:
        """(θ̂ (U,), label, confidence) of a hit's window (N,) at the engine rate, resampled once to the
        model's rate; θ̂ is None for a class-only stage, the label None for a θ̂-only one.  The label
        follows the longest window heard (the classifier's heads, see :meth:`_classify`)."""
        x = resample(win, self.engine.sample_rate, model.sample_rate)
        theta = None if kind == LABEL else self.engine.infer(model, x, n_model, model.sample_rate)
        label, confidence = (None, None) if kind == THETA else self._classify(x, model.sample_rate)
        return theta, label, confidence

    def _publish(self, hit: _Hit, model: LoadedModel, win: np.ndarray, theta: np.ndarray, label: str | None,
                 confidence: float | None, stage: int, final: bool, timings: dict[str, Any],
                 wait_samples: int | None = None) -> None:
        """Block thread: the prediction as a :class:`HitEvent` to the engine's history, latency and sinks;
        a final one also goes to the capture tap (a job)."""
        eng = self.engine
        hit.theta, hit.label, hit.confidence = theta, label, confidence
        peak = float(np.max(np.abs(win)))
        velocity = float(np.clip((20 * np.log10(peak + 1e-9) + 60.0) / 60.0, 0.0, 1.0))
        event = HitEvent(hit.hit_id, hit.onset, velocity, theta, eng.physical(theta), stage, final, label,
                         confidence)
        if stage == 0:
            eng.emit(event, timings, wait_samples=wait_samples)
        else:
            eng.emit(event, timings, total="refine")
        if final and eng.capture is not None:
            eng.jobs.submit(lambda: eng.tap(event.t_samples, event.theta, model))

    def _refinement(self, hit: _Hit, model: LoadedModel, win: np.ndarray, n_model: int, kind: str,
                    stage: int, final: bool, peak: float, level_n: int) -> Callable[[], Any]:
        """Job: θ̂ and/or the label (``kind``) from the longer window, and for a new θ̂ the voice
        re-rendered from ``SPLICE_LEAD`` samples past its playing position (chosen now, on the block
        thread); its closure splices the voice in (unless a newer refinement or another voice took it)
        and tells the sinks, with the hit's last θ̂ or label for the part not computed."""
        splice = self._splice_point(hit) if self.engine.play_voices and kind != LABEL else None
        seed, n_total = hit.seed, self.synth.n_samples

        def job() -> Callable[[], None]:
            watch = Stopwatch()
            theta, label, confidence = self._analyse(model, win, n_model, kind)
            inference = watch.lap()
            voice = None
            if splice is not None and theta is not None:
                offset = splice[1]
                gain = _gain(peak, self.voice.render(theta, seed, 0, level_n))
                voice = (self.voice.render(theta, seed, offset, n_total - offset), gain)
            render = watch.lap()

            def finish() -> None:  # block thread, after every earlier stage's finish
                if voice is not None and splice is not None and hit.version == splice[0] and hit.slot:
                    self.mixer.splice(*hit.slot, voice[0], splice[1], voice[1], final=True)
                kept = hit.theta if theta is None else theta
                lab, conf = (hit.label, hit.confidence) if kind == THETA else (label, confidence)
                timing = {"label_inference": inference} if kind == LABEL else {
                    "refine_inference": inference, "refine_render": render}
                self._publish(hit, model, win, kept, lab, conf, stage, final, timing)

            return finish

        return job

    def _splice_point(self, hit: _Hit) -> tuple[int, int] | None:
        """(version, voice offset) a refinement of ``hit`` re-renders from: ``SPLICE_LEAD`` samples past the
        voice's playing position, never past its current end (no gap); None when the voice has gone."""
        mixer = self.mixer
        if hit.slot is None or not mixer.owns(*hit.slot) or mixer.played(hit.slot[0]) >= self.synth.n_samples:
            return None  # the voice was stolen meanwhile, or has ended
        hit.version += 1
        return hit.version, min(mixer.played(hit.slot[0]) + SPLICE_LEAD, mixer.length(hit.slot[0]))

    def _classify(self, win: np.ndarray, sample_rate: int) -> tuple[str | None, float | None]:
        """(label, confidence) of the hit's window heard so far (N,) at ``sample_rate`` from the engine's
        classifier, if any; (None, None) when it is shorter than the classifier's shortest head."""
        clf = self.engine.classifier
        if clf is None or win.size < clf.window_at(sample_rate, clf.min_window):
            return None, None
        label, confidence = clf.classify(win, sample_rate)
        return str(label), float(confidence)

    def _voice(self, hit: _Hit, theta: np.ndarray, peak: float, level_n: int) -> Callable[[], Any] | None:
        """Start the voice of ``hit`` with θ̂: its first samples now (level-matched to the input's ``peak``
        over ``level_n`` samples); returns the job that renders the rest."""
        head = self.voice.render(theta, hit.seed, 0, HEAD_SAMPLES)
        gain = _gain(peak, head[:level_n])
        at = hit.onset + self.engine.delay if self.engine.lookahead else None
        hit.slot = self.mixer.trigger(head, gain, at=at, final=False)
        return self._rest(hit, theta, gain, head.size, hit.version)

    def _rest(self, hit: _Hit, theta: np.ndarray, gain: float, done: int, version: int) -> Callable[[], Any]:
        """Job: render the voice from ``done`` to its end; its closure appends it unless superseded."""
        slot, seed, n_total = hit.slot, hit.seed, self.synth.n_samples

        def job() -> Callable[[], None]:
            rest = self.voice.render(theta, seed, done, n_total - done)

            def finish() -> None:
                if hit.version == version:
                    self.mixer.extend(*slot, rest, done, gain)

            return finish

        return job

    def render_into(self, out: np.ndarray) -> None:
        """Mix the voices' next block into ``out``."""
        self.mixer.mix_into(out)


def _gain(peak: float, voice: np.ndarray) -> float:
    """Voice gain matching the input's peak over the same span (at most 10: a near-silent voice stays so)."""
    return min(peak / max(float(np.max(np.abs(voice))) if voice.size else 0.0, 1e-4), 10.0)
