"""Model hot swap: a new model plays from the next block; broken or incompatible ones are rejected."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.encoder.runtime import OnnxEncoder
from scrapl_live.live.engine import Engine
from scrapl_live.live.offline import run_signal
from tests.live.signals import hit_sequence

SR = 44100


@pytest.fixture(scope="module")
def hits() -> np.ndarray:
    torch.set_num_threads(1)
    return hit_sequence(3, SR, seed=21, levels_db=(-12.0, -6.0), gap_s=(0.3, 0.4))[0]


def _copy_model(src: Path, dst_dir: Path, name: str) -> Path:
    dst = dst_dir / f"{name}.onnx"
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def _thetas(engine: Engine, x: np.ndarray) -> list[np.ndarray]:
    """θ̂ of each hit of ``x``; the hits' onsets relative to x's start are left in ``engine.onsets``."""
    engine.recent_hits.clear()
    t0 = engine.t  # the engine clock keeps running across calls
    run_signal(engine, x, tail_s=0.2)
    engine.onsets = [h.t_samples - t0 for h in engine.recent_hits]
    return [h.theta for h in engine.recent_hits]


def test_swap_takes_effect_at_the_next_block(models: dict[str, Path], hits: np.ndarray) -> None:
    engine = Engine(models["tr808"], SR, 256)
    before = _thetas(engine, hits)
    engine.swap_model(models["tr808_b"], wait=True)
    assert engine.slot.current.path == models["tr808"]  # not yet: only at a block boundary
    out = engine.process_block(np.zeros(256, np.float32))
    assert out.shape == (256,) and engine.slot.current.path == models["tr808_b"] and engine.slot.swaps == 1
    after = _thetas(engine, hits)
    enc_b = OnnxEncoder(models["tr808_b"])
    assert len(after) >= 3  # (plus, on a re-run, the step from the previous tail of digital silence)
    for t, theta in zip(engine.onsets, after, strict=True):
        np.testing.assert_allclose(theta, enc_b(hits[t : t + engine.window]), atol=1e-5)
    assert not np.allclose(before[0], after[0], atol=1e-3)


def test_broken_models_are_rejected_and_the_old_one_keeps_playing(
    models: dict[str, Path], hits: np.ndarray, tmp_path: Path
) -> None:
    engine = Engine(models["tr808"], SR, 256)
    reference = _thetas(engine, hits)
    truncated = _copy_model(models["tr808_b"], tmp_path, "truncated")
    truncated.write_bytes(truncated.read_bytes()[:5000])
    garbage = _copy_model(models["tr808_b"], tmp_path, "garbage")
    garbage.write_bytes(b"\x00not an onnx graph" * 100)
    no_card = tmp_path / "no_card.onnx"
    shutil.copy(models["tr808_b"], no_card)
    cases = {truncated: "SHA-256|corrupt", garbage: "SHA-256|corrupt", no_card: "card",
             models["granular"]: "incompatible", tmp_path / "missing.onnx": "not found"}
    for path, reason in cases.items():
        engine.swap_model(path, wait=True)
        engine.process_block(np.zeros(256, np.float32))
        assert engine.slot.current.path == models["tr808"], path
        assert engine.slot.last_error is not None
        assert __import__("re").search(reason, engine.slot.last_error), (path, engine.slot.last_error)
    enc_a = OnnxEncoder(models["tr808"])
    after = _thetas(engine, hits)
    assert len(after) >= len(reference)
    for t, theta in zip(engine.onsets, after, strict=True):  # still the first model
        np.testing.assert_allclose(theta, enc_a(hits[t : t + engine.window]), atol=1e-5)


def test_file_watch_swaps_when_the_model_file_changes(models: dict[str, Path], tmp_path: Path) -> None:
    live = _copy_model(models["tr808"], tmp_path, "live")
    engine = Engine(live, SR, 256)
    engine.slot.watch(live, interval_s=0.05)
    try:
        time.sleep(0.2)
        shutil.copy(models["tr808_b"].with_suffix(".json"), live.with_suffix(".json"))
        shutil.copy(models["tr808_b"], live)
        deadline = time.monotonic() + 20
        while engine.slot.swaps == 0 and time.monotonic() < deadline:
            engine.process_block(np.zeros(256, np.float32))  # the block loop picks the swap up
            time.sleep(0.01)
    finally:
        engine.close()
    assert engine.slot.swaps == 1, engine.slot.last_error
    probe = np.random.default_rng(0).standard_normal(engine.window).astype(np.float32) * 0.1
    expected = OnnxEncoder(models["tr808_b"])(probe)
    np.testing.assert_allclose(engine.slot.current.infer(probe), expected, atol=1e-6)
