"""Trainer validation subset (spread over the split) and the --theta-grad-norm hook inside a real step."""

from __future__ import annotations

import pytest
import torch

from scrapl_live.train.config import TrainConfig
from scrapl_live.train.evaluate import spread_indices
from scrapl_live.train.metrics import theta_l1_permille


def test_validation_uses_items_spread_over_the_split(tmp_path) -> None:
    from scrapl_live.train.trainer import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(synth="granular", loss="ploss", batch_size=2, max_steps=1, val_items=3, dropout=0.0,
                      out_dir=str(tmp_path))
    tr = Trainer(cfg)
    idx = spread_indices(len(tr.data.syn_val), 3)
    assert idx[-1] == len(tr.data.syn_val) - 1  # the last (highest-density) pair is covered
    tr.encoder.eval()
    with torch.no_grad():
        theta = tr.data.syn_val.theta[idx]
        x = tr.synth(theta, tr.data.syn_val.seed[idx])
        expected = theta_l1_permille(tr.encoder(x[..., : tr.window]), theta).mean()
    assert tr.validate()["val_theta_l1"] == pytest.approx(float(expected), rel=1e-5)


def test_card_records_the_git_commit(tmp_path) -> None:
    import subprocess
    from pathlib import Path

    from scrapl_live.train.trainer import Trainer

    repo = Path(__file__).resolve().parents[2]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True)
    if head.returncode != 0:
        reason = f"not a git checkout: {head.stderr.strip()}"
        print(reason)
        pytest.skip(reason)
    cfg = TrainConfig(synth="granular", loss="ploss", batch_size=2, max_steps=1, val_items=2,
                      out_dir=str(tmp_path))
    assert Trainer(cfg).state(full=False)["card"]["training"]["git_commit"] == head.stdout.strip()
