"""Training one multi-window encoder (``--windows``): random input lengths per step, validation per window."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from scrapl_live.train.checkpoint import load_checkpoint
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.data import draw_window, parse_windows
from scrapl_live.train.trainer import Trainer

torch.set_num_threads(1)


def test_parse_windows() -> None:
    assert parse_windows(None) is None
    assert parse_windows("128,256,8192") == (128, 256, 8192)
    for bad in ("128", "256,128", "128,128", "128,x"):
        with pytest.raises(ValueError, match="windows"):
            parse_windows(bad)


def test_draw_window_is_log_uniform_and_a_function_of_seed_and_step() -> None:
    draws = np.array([draw_window((128, 8192), 0, s) for s in range(4000)])
    assert draws.min() >= 128 and draws.max() <= 8192
    assert [draw_window((128, 8192), 0, s) for s in range(50)] == draws[:50].tolist()
    assert [draw_window((128, 8192), 1, s) for s in range(50)] != draws[:50].tolist()
    # log-uniform: each of the six octaves between 128 and 8192 holds about 1/6 of the draws
    octaves = np.histogram(np.log2(draws), bins=6, range=(7, 13))[0] / draws.size
    np.testing.assert_allclose(octaves, 1 / 6, atol=0.03)
    assert math.isclose(np.median(draws), 1024, rel_tol=0.1)  # the geometric mean of 128 and 8192
    assert draw_window((2048,), 0, 5) == 2048


def test_trainer_trains_one_encoder_for_all_windows(tmp_path, monkeypatch) -> None:
    cfg = TrainConfig(synth="tr808", loss="ploss", batch_size=4, lr=1e-3, max_steps=4, epoch_steps=4,
                      val_items=4, synthetic_items=16, windows="128,512,2048", out_dir=str(tmp_path))
    trainer = Trainer(cfg)
    assert trainer.encoder.config.windows == (128, 512, 2048)
    seen = []
    forward = trainer.model.forward
    monkeypatch.setattr(trainer.model, "forward", lambda x: (seen.append(x.shape[-1]), forward(x))[1])
    trainer.fit(progress=False)
    assert seen[:4] == [draw_window((128, 512, 2048), 0, s) for s in range(4)]  # one length per step
    assert set(seen[4:]) == {128, 512, 2048}  # validation: every listed window
    best = trainer.best
    per_window = [best[f"val_theta_l1_w{w}"] for w in (128, 512, 2048)]
    assert best["val_theta_l1"] == pytest.approx(np.mean(per_window), rel=1e-5)
    ckpt = load_checkpoint(tmp_path / "best.pt")
    assert list(ckpt["encoder_config"]["windows"]) == [128, 512, 2048]
    assert ckpt["train_config"]["windows"] == "128,512,2048"
