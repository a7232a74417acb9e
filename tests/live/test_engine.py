"""The engine in file mode: θ̂ from the right window, seamless voices, sinks, texture mode, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.encoder.runtime import OnnxEncoder
from scrapl_live.live.engine import Engine
from scrapl_live.live.offline import run_signal
from tests.live.signals import hit_sequence, onset_f1

SR = 44100


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


class Recorder:
    """A sink with every role, recording what it is given."""

    def __init__(self) -> None:
        self.hits: list[tuple[int, float, np.ndarray, dict]] = []
        self.params: list[tuple[int, np.ndarray, dict]] = []
        self.blocks = 0
        self.closed = False

    def on_hit(self, t_samples: int, velocity: float, theta: np.ndarray, params: dict[str, float]) -> None:
        self.hits.append((t_samples, velocity, theta.copy(), dict(params)))

    def on_params(self, t_samples: int, theta: np.ndarray, params: dict[str, float]) -> None:
        self.params.append((t_samples, theta.copy(), dict(params)))

    def render(self, block: np.ndarray, t_samples: int) -> None:
        self.blocks += 1

    def close(self) -> None:
        self.closed = True


def test_hits_use_the_window_after_each_onset(models: dict[str, Path]) -> None:
    x, onsets = hit_sequence(8, SR, seed=11, levels_db=(-30.0, -6.0), gap_s=(0.3, 0.5))
    rec = Recorder()
    engine = Engine(models["tr808"], SR, 256, sinks=[rec])
    out = run_signal(engine, x)
    engine.close()
    assert rec.closed and rec.blocks >= out.size // 256  # the block clock reached every block
    assert onset_f1(np.array([h[0] for h in rec.hits]), onsets, 441)[2] == 1.0
    enc = OnnxEncoder(models["tr808"])
    w = engine.window
    for t, velocity, theta, params in rec.hits:
        # independent check: the encoder on the W samples after the detected onset (model rate = engine rate)
        np.testing.assert_allclose(theta, enc(x[t : t + w]), atol=1e-5)
        peak_db = 20 * np.log10(np.abs(x[t : t + w]).max())
        assert velocity == pytest.approx((peak_db + 60) / 60, abs=1e-3)
        spec = engine.specs[0]
        assert params[spec.name] == pytest.approx(spec.to_physical(float(theta[0])), rel=1e-5)
    assert np.sqrt(np.mean(out**2)) > 1e-3 and np.abs(out).max() <= 1.0


def test_voice_head_and_tail_join_into_the_full_render(models: dict[str, Path]) -> None:
    x, onsets = hit_sequence(1, SR, seed=2, levels_db=(-12.0, -12.0))
    engine = Engine(models["tr808"], SR, 256)
    out = run_signal(engine, x, tail_s=1.0)
    hit = engine.hits[0]
    with torch.no_grad():
        full = engine.synth(torch.from_numpy(hit.theta[None]), torch.tensor([engine._seed + 1]))[0, 0].numpy()
    # the voice starts in the output block of the input block that completed the window (no later)
    start = (hit.t_samples + engine.window - 1) // 256 * 256
    assert not np.any(out[:start])
    n = 30000  # numpy head (first HEAD_SAMPLES) then the torch tail: one seamless full render
    np.testing.assert_allclose(out[start : start + n], np.clip(hit.voice_gain * full[:n], -1, 1), atol=1e-4)


def test_async_inference_gives_the_same_hits(models: dict[str, Path]) -> None:
    x, _ = hit_sequence(5, SR, seed=4, gap_s=(0.3, 0.4))
    results = []
    for async_inference in (False, True):
        engine = Engine(models["tr808"], SR, 256, async_inference=async_inference)
        out = run_signal(engine, x)
        engine.close()
        results.append((engine.hits, out))
    (h_sync, o_sync), (h_async, o_async) = results
    assert [h.t_samples for h in h_sync] == [h.t_samples for h in h_async]
    for a, b in zip(h_sync, h_async, strict=True):
        np.testing.assert_allclose(a.theta, b.theta, atol=1e-6)
    assert np.sqrt(np.mean(o_async**2)) > 0.5 * np.sqrt(np.mean(o_sync**2))


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
    n_jobs = len(engine.hits)
    n_blocks = -(-(x.size + SR) // 256)
    assert n_jobs == n_blocks * 256 // int(0.5 * SR)  # one analysis per hop
    lo, hi = gran.params[1].min, gran.params[1].max
    assert rec.params and all(lo <= p["slope"] <= hi for _, _, p in rec.params)
    rms_in = np.sqrt(np.mean(x[SR:] ** 2))
    rms_out = np.sqrt(np.mean(out[SR : x.size] ** 2))
    assert 0.2 * rms_in < rms_out < 5 * rms_in  # the texture level follows the input level
    assert np.sqrt(np.mean(out[-SR // 4 :] ** 2)) < 0.2 * rms_out  # and fades when the input stops


def test_bad_blocks_and_failing_sinks_never_stop_the_engine(models: dict[str, Path]) -> None:
    class Broken:
        def on_hit(self, t_samples: int, velocity: float, theta: np.ndarray, params: dict) -> None:
            raise RuntimeError("sink exploded")

    rec = Recorder()
    engine = Engine(models["tr808"], SR, 256, sinks=[Broken(), rec])
    with pytest.raises(ValueError, match="block"):
        engine.process_block(np.zeros(100, np.float32))
    nan_block = np.full(256, np.nan, np.float32)
    assert np.all(np.isfinite(engine.process_block(nan_block)))
    x, onsets = hit_sequence(3, SR, seed=8, gap_s=(0.3, 0.4))
    x[: 3 * 256] = 1.0  # clipped start
    out = run_signal(engine, x)
    assert np.all(np.isfinite(out)) and np.abs(out).max() <= 1.0
    assert len(rec.hits) >= len(onsets)  # the later sink still got every hit
    assert engine.errors >= 1 + len(rec.hits)  # the NaN block and each failing call were counted
    silent = Engine(models["tr808"], SR, 256)
    run_signal(silent, np.zeros(SR, np.float32))
    assert silent.hits == []


def test_engine_rejects_bad_arguments(models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        Engine(models["tr808"], 100)
    with pytest.raises(ValueError, match="block_size"):
        Engine(models["tr808"], SR, 3)
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        Engine(tmp_path / "missing.onnx", SR)
