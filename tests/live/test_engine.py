"""The engine in file mode: θ̂ from the right window, seamless voices, sinks, texture mode, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.encoder.runtime import OnnxEncoder
from scrapl_live.live.engine import HISTORY, Engine
from scrapl_live.live.events import HitEvent
from scrapl_live.live.hits import SPLICE_LEAD
from scrapl_live.live.offline import run_signal
from tests.live.signals import hit_sequence

SR = 44100


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class Recorder:
    """A sink with every role, recording what it is given."""

    def __init__(self) -> None:
        self.hits: list[HitEvent] = []
        self.refinements: list[HitEvent] = []
        self.params: list[tuple[int, np.ndarray, dict]] = []
        self.blocks = 0
        self.closed = False

    def on_hit(self, event: HitEvent) -> None:
        self.hits.append(event)

    def on_refine(self, event: HitEvent) -> None:
        self.refinements.append(event)

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        self.params.append((t_samples, theta.copy(), dict(params)))

    def render(self, block: np.ndarray, t_samples: int) -> None:
        self.blocks += 1

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize("lookahead", [False, True])
def test_hits_use_the_window_after_each_onset(models: dict[str, Path], lookahead: bool) -> None:
    x, onsets = hit_sequence(8, SR, seed=11, levels_db=(-30.0, -6.0), gap_s=(0.3, 0.5))
    rec = Recorder()
    engine = Engine(models["tr808"], SR, 256, sinks=[rec], lookahead=lookahead)
    out = run_signal(engine, x)
    engine.close()
    assert rec.closed and rec.blocks >= out.size // 256  # the block clock reached every block
    assert len(rec.hits) >= len(onsets) - 1  # the detector's own accuracy is tested in test_onset.py
    assert not rec.refinements  # a single-window model: one prediction per hit
    enc = OnnxEncoder(models["tr808"])
    w = engine.window
    names = [s.name for s in engine.specs]
    for i, event in enumerate(rec.hits):
        t = event.t_samples
        assert event.hit_id == i + 1 and event.stage == 0 and event.final
        # independent check: the encoder on the W samples after the detected onset (model rate = engine rate)
        np.testing.assert_allclose(event.theta, enc(x[t : t + w]), atol=1e-5)
        peak_db = 20 * np.log10(np.abs(x[t : t + w]).max())
        assert event.velocity == pytest.approx((peak_db + 60) / 60, abs=1e-3)
        spec = engine.specs[names.index("osc1_freq")]
        value = spec.to_physical(float(event.theta[names.index("osc1_freq")]))
        assert event.params["osc1_freq"] == pytest.approx(value, rel=1e-5)
    assert engine.n_hits == len(rec.hits) and list(engine.recent_hits) == rec.hits
    assert np.sqrt(np.mean(out**2)) > 1e-3 and np.abs(out).max() <= 1.0


def _full_voice(engine: Engine, event: HitEvent, x: np.ndarray, window: int | None = None) -> np.ndarray:
    """The torch synth's whole voice of ``event``, level-matched to the input over its ``window`` (default:
    the full one) as the engine does."""
    with torch.no_grad():
        full = engine.synth(torch.from_numpy(event.theta[None]), torch.tensor([engine.seed + event.hit_id]))
    full = full[0, 0].numpy()
    n = min(window or engine.window, 2048)
    return full * min(np.abs(x[event.t_samples : event.t_samples + n]).max() / np.abs(full[:n]).max(), 10.0)


@pytest.mark.parametrize("lookahead", [False, True])
def test_voice_start_and_rest_join_into_the_full_render(models: dict[str, Path], lookahead: bool) -> None:
    x, _ = hit_sequence(1, SR, seed=2, levels_db=(-12.0, -12.0), noise_db=-150.0)
    engine = Engine(models["tr808"], SR, 256, lookahead=lookahead)
    out = run_signal(engine, x, tail_s=1.0)
    (event,) = engine.recent_hits
    # file mode: exactly on the onset; live: in the output block of the input block that completed the window
    start = event.t_samples if lookahead else (event.t_samples + engine.window - 1) // 256 * 256
    assert not np.any(out[:start])
    n = 30000  # numpy start (first 2048 samples) then the job's rest: one seamless full render
    np.testing.assert_allclose(out[start : start + n], _full_voice(engine, event, x)[:n], atol=1e-4)
    assert engine.strategy.mixer.late_starts == 0


def test_file_mode_places_every_voice_on_its_onset(models: dict[str, Path]) -> None:
    """Hits 60 ms to 0.5 s apart, -40..-6 dBFS: each voice starts exactly at its hit's onset."""
    x, _ = hit_sequence(12, SR, seed=5, levels_db=(-40.0, -6.0), gap_s=(0.06, 0.5), noise_db=-150.0)
    rec = Recorder()
    engine = Engine(models["tr808"], SR, 256, sinks=[rec], lookahead=True, max_voices=16)
    out = run_signal(engine, x, tail_s=1.0)
    assert len(rec.hits) >= 8  # (the detector's accuracy is tested in test_onset.py)
    voices = [(e.t_samples, _full_voice(engine, e, x)) for e in rec.hits]

    def expected(a: int, b: int) -> np.ndarray:  # every voice rendered on its own, placed at its onset
        y = np.zeros(b - a, np.float32)
        for t, v in voices:
            lo, hi = max(a, t), min(b, t + v.size)
            if lo < hi:
                y[lo - a : hi - a] += v[lo - t : hi - t]
        return y

    for t, _ in voices:  # 32 samples either side of each onset: silent before (but for earlier voices)
        a = max(t - 32, 0)
        np.testing.assert_allclose(out[a : t + 32], expected(a, t + 32), atol=1e-4)
    assert engine.strategy.mixer.late_starts == 0


def test_async_inference_gives_the_same_hits(models: dict[str, Path]) -> None:
    x, _ = hit_sequence(5, SR, seed=4, gap_s=(0.3, 0.4))
    results = []
    for async_inference in (False, True):
        engine = Engine(models["tr808"], SR, 256, async_inference=async_inference)
        out = run_signal(engine, x)
        engine.close()
        results.append((list(engine.recent_hits), out))
    (h_sync, o_sync), (h_async, o_async) = results
    assert [h.t_samples for h in h_sync] == [h.t_samples for h in h_async]
    for a, b in zip(h_sync, h_async, strict=True):
        np.testing.assert_allclose(a.theta, b.theta, atol=1e-6)
    assert np.sqrt(np.mean(o_async**2)) > 0.5 * np.sqrt(np.mean(o_sync**2))


def test_live_refinements_run_on_the_job_thread() -> None:
    """Live mode: each hit's first window is analysed on the block thread, its refinements on the job
    thread, and every refinement still reaches the sinks (after the jobs are applied)."""
    import threading

    x, _ = hit_sequence(4, SR, seed=4, gap_s=(0.3, 0.4))
    rec = Recorder()
    engine = Engine(SHIPPED, SR, 256, sinks=[rec], async_inference=True)
    model, calls = engine.slot.current, []
    encoder = model.encoder

    def recording(window: np.ndarray) -> np.ndarray:
        calls.append((window.shape[-1], threading.current_thread().name))
        return encoder(window)

    model.encoder = recording
    run_signal(engine, x)
    engine.close()
    schedule, stages = engine.strategy.schedule(model), engine.strategy.stages(model)
    assert len(schedule) >= 3 and len(rec.hits) >= 3
    threads = {w: {name for n, name in calls if n == w} for w in schedule}
    assert threads[schedule[0]] == {threading.current_thread().name}
    assert all(threads[w] == {"scrapl-jobs"} for w in schedule[1:]), threads
    assert len(rec.refinements) == (len(stages) - 1) * len(rec.hits)


def test_texture_mode_follows_the_input(models: dict[str, Path]) -> None:
    import synths
    from scrapl_live.audio import resample

    gran = synths.get("granular")
    with torch.no_grad():
        tex = gran(torch.tensor([[0.8, 0.7]]), torch.tensor([3]))[0, 0].numpy()
    x = 0.1 * resample(tex, gran.sample_rate, SR) / np.abs(tex).max()
    rec = Recorder()
    engine = Engine(models["granular"], SR, 256, sinks=[rec], analysis_hop_s=0.5)
    out = run_signal(engine, np.concatenate([x, np.zeros(SR, np.float32)]), tail_s=0.0)
    assert engine.n_hits >= x.size // int(0.5 * SR) - 2  # about one analysis per hop
    assert not rec.hits  # texture frames are no hits
    lo, hi = gran.params[1].min, gran.params[1].max
    assert rec.params and all(lo <= p["slope"] <= hi for _, _, p in rec.params)
    rms_in = np.sqrt(np.mean(x[SR:] ** 2))
    rms_out = np.sqrt(np.mean(out[SR : x.size] ** 2))
    assert 0.2 * rms_in < rms_out < 5 * rms_in  # the texture level follows the input level
    assert np.sqrt(np.mean(out[-SR // 4 :] ** 2)) < 0.2 * rms_out  # and fades when the input stops


def test_bad_blocks_and_failing_sinks_never_stop_the_engine(models: dict[str, Path]) -> None:
    class Broken:
        def on_hit(self, event: HitEvent) -> None:
            raise RuntimeError("sink exploded")

        def on_refine(self, event: HitEvent) -> None:
            raise RuntimeError("sink exploded")

    rec = Recorder()
    engine = Engine(models["tr808"], SR, 256, sinks=[Broken(), rec])
    with pytest.raises(ValueError, match="block"):
        engine.process_block(np.zeros(100, np.float32))
    nan_block = np.full(256, np.nan, np.float32)
    assert np.all(np.isfinite(engine.process_block(nan_block)))
    x, _ = hit_sequence(3, SR, seed=8, gap_s=(0.3, 0.4))
    x[: 3 * 256] = 1.0  # clipped start
    out = run_signal(engine, x)
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    assert len(rec.hits) == engine.n_hits >= 2  # the later sink still got every hit
    assert engine.errors >= 1 + len(rec.hits)  # the NaN block and each failing call were counted
    silent = Engine(models["tr808"], SR, 256)
    run_signal(silent, np.zeros(SR, np.float32))
    assert silent.n_hits == 0 and not silent.recent_hits


def test_live_state_is_bounded(models: dict[str, Path]) -> None:
    engine = Engine(models["tr808"], SR, 256, play_voices=False, history=8)
    assert Engine(models["tr808"], SR, 256).recent_hits.maxlen == HISTORY
    x, _ = hit_sequence(20, SR, seed=9, levels_db=(-12.0, -6.0), gap_s=(0.25, 0.3))
    run_signal(engine, x, tail_s=0.1)
    assert engine.n_hits > 8 and len(engine.recent_hits) == 8
    assert [e.hit_id for e in engine.recent_hits] == list(range(engine.n_hits - 7, engine.n_hits + 1))
    p50, p99 = engine.latency.summary()["inference"]
    assert 0 < p50 <= p99


def test_engine_rejects_bad_arguments(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        Engine(models["tr808"], 100)
    with pytest.raises(ValueError, match="block_size"):
        Engine(models["tr808"], SR, 3)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        Engine(tmp_path / "missing.onnx", SR)
    with pytest.raises(ValueError, match="first_window"):
        Engine(models["tr808"], SR, first_window=64)
    with pytest.raises(ValueError, match="tr808 mode.*analysis_hop_s"):
        Engine(models["tr808"], SR, analysis_hop_s=0.5)


SHIPPED = Path(__file__).resolve().parents[2] / "models" / "tr808.onnx"


@pytest.fixture(scope="module")
def refined() -> tuple[Engine, Recorder, np.ndarray, np.ndarray]:
    """The shipped multi-window 808 encoder live (no look-ahead) over a sequence of 808 hits."""
    torch.set_num_threads(1)
    x, _ = hit_sequence(10, SR, seed=13, levels_db=(-24.0, -6.0), gap_s=(0.4, 0.5), noise_db=-150.0)
    rec = Recorder()
    engine = Engine(SHIPPED, SR, 256, sinks=[rec])
    out = run_signal(engine, x, tail_s=0.5)
    return engine, rec, x, out


def test_refinements_move_theta_toward_the_full_window_prediction(refined) -> None:  # noqa: ANN001
    engine, rec, x, _ = refined
    model = engine.slot.current
    schedule, plan = engine.strategy.schedule(model), engine.strategy.stages(model)
    assert len(schedule) >= 3 and schedule[0] == 256  # W0, then longer windows up to the full one
    assert len(rec.refinements) == (len(plan) - 1) * len(rec.hits) >= 10
    enc = OnnxEncoder(SHIPPED)
    dist = np.zeros(len(schedule))
    for hit in rec.hits:
        stages = [hit] + [e for e in rec.refinements if e.hit_id == hit.hit_id]
        assert [e.stage for e in stages] == list(range(len(plan)))
        assert [e.final for e in stages] == [False] * (len(plan) - 1) + [True]
        w_theta = schedule[0]
        for e, (w, kind) in zip(stages, plan, strict=True):  # the encoder on its stage's window, or the last
            w_theta = w_theta if kind == "label" else w
            np.testing.assert_allclose(e.theta, enc(x[hit.t_samples : hit.t_samples + w_theta]), atol=1e-5)
        theta_stages = [e for e, (_, kind) in zip(stages, plan, strict=True) if kind != "label"]
        dist += [np.abs(e.theta - stages[-1].theta).mean() for e in theta_stages]
    dist /= len(rec.hits)
    assert np.all(np.diff(dist) < 0) and dist[-1] == 0.0, dist  # on average each refinement gets closer
    p50, p99 = engine.latency.summary()["refine"]
    assert 0 < p50 <= p99


def test_refinement_splices_do_not_click(refined) -> None:  # noqa: ANN001
    """At each splice no output step is larger than the largest step of the same output with the voice
    unrefined or refined throughout (the crossfade region and 512 samples either side)."""
    engine, rec, x, out = refined
    schedule, voice = engine.strategy.schedule(engine.slot.current), engine.strategy.voice
    plan = engine.strategy.stages(engine.slot.current)
    first = (rec.hits[0].t_samples + schedule[0] - 1) // 256 * 256
    assert np.any(out[first : first + 256]) and not np.any(out[:first])  # sound from W0's block on
    xf, checked = engine.strategy.mixer.xfade, 0
    r = (0.5 - 0.5 * np.cos(np.pi * (np.arange(xf) + 0.5) / xf)).astype(np.float32)

    def level_matched(e: HitEvent, n: int, lo: int, hi: int) -> np.ndarray:
        seed, m = engine.seed + e.hit_id, min(n, 2048)
        peak = np.abs(voice.render(e.theta, seed, 0, m)).max()
        gain = np.abs(x[e.t_samples : e.t_samples + m]).max() / peak
        return voice.render(e.theta, seed, lo, hi - lo) * np.float32(min(gain, 10.0))

    for hit in rec.hits:
        events = [hit] + [e for e in rec.refinements if e.hit_id == hit.hit_id]
        stages = [e for e, (_, kind) in zip(events, plan, strict=True) if kind != "label"]  # no splice
        for old, new, w_old, w in zip(stages[:-1], stages[1:], schedule[:-1], schedule[1:], strict=True):
            p = (hit.t_samples + w - 1) // 256 * 256 + SPLICE_LEAD  # the block in which w completed, + lead
            k = p - ((hit.t_samples + schedule[0] - 1) // 256 * 256)  # voice index of the splice
            a = level_matched(old, w_old, k - 512, k + xf + 512)
            b = level_matched(new, w, k - 512, k + xf + 512)
            mine = np.concatenate([a[:512], a[512:-512] + r * (b[512:-512] - a[512:-512]), b[-512:]])
            others = out[p - 512 : p + xf + 512] - mine  # the hit's neighbours still ringing
            unspliced = max(np.abs(np.diff(others + a)).max(), np.abs(np.diff(others + b)).max())
            steps = np.abs(np.diff(out[p - 513 : p + xf + 1]))
            assert steps.max() <= unspliced * (1 + 1e-3), (hit.hit_id, w, steps.max(), unspliced)
            checked += 1
    assert checked == (len(schedule) - 1) * len(rec.hits)
