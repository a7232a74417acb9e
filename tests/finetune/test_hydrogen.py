"""Fine-tuning the shipped tr808 encoder on Hydrogen drum kits (training kits,
never the TR808EmulationKit test kit) for a few minutes on CPU lowers the held-out JTFS distance on those
kits — the worker's own metric and an independent one (ONNX runtime, 12 other JTFS paths)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.finetune.config import FinetuneConfig
from scrapl_live.finetune.holdout import read_user_data
from scrapl_live.finetune.worker import FinetuneWorker
from scrapl_live.resources import models_dir
from tests.finetune.helpers import SR, fill_store, require_hydrogen, user_sounds

torch.set_num_threads(1)
SHIPPED = models_dir() / "tr808.onnx"


def _independent_distance(model: Path, heldout: torch.Tensor, heldout_len: torch.Tensor,
                          avoid: list[int]) -> float:
    """JTFS distance (mean over 12 fixed paths not in ``avoid``) between the held-out kicks (n, 1, N) and
    the tr808 renders of ``model``'s θ̂ (ONNX runtime), over each kick's captured span."""
    import synths
    from scrapl_live.encoder.runtime import OnnxEncoder
    from scrapl_live.loss import SCRAPLLoss
    from scrapl_live.train.config import JTFS_PRESETS

    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    loss = SCRAPLLoss(SR, **JTFS_PRESETS["tr808"], use_p_adam=False, use_p_saga=False).eval()
    paths = [int(p) for p in np.linspace(21, loss.n_paths - 21, 12)]
    assert not set(paths) & set(avoid)
    enc = OnnxEncoder(model)
    theta = torch.from_numpy(np.clip(enc(heldout[:, 0, : enc.window].numpy()), 0, 1))
    mask = (torch.arange(SR) < heldout_len[:, None]).float()[:, None]
    with torch.no_grad():
        x_hat = synth(theta, torch.arange(len(theta))) * mask
        return float(loss(x_hat, heldout, path_idx=paths))


@pytest.mark.slow
def test_finetuning_shipped_tr808_on_hydrogen_kits_lowers_heldout_distance(tmp_path: Path) -> None:
    require_hydrogen()
    assert SHIPPED.is_file(), "the shipped models/tr808.onnx is part of the repository"
    sounds, source = user_sounds(12, hydrogen=True)
    assert source == "hydrogen", "too few kicks in the Hydrogen training kits"
    fill_store(tmp_path / "store", sounds)
    cfg = FinetuneConfig(model=str(SHIPPED), store=str(tmp_path / "store"), out_dir=str(tmp_path / "out"),
                         batch_size=4, max_steps=8, eval_every=4, ckpt_every=8, eval_paths=8, nice=0)
    worker = FinetuneWorker(cfg)
    assert worker.run() == 8
    hist = [(r["step"], round(r["heldout_distance"], 4)) for r in worker.history]
    data = read_user_data(cfg.store, SR, SR, cfg.holdout_frac)
    n_train, n_held = len(data.train), len(data.heldout)
    assert (tmp_path / "out" / "model.onnx").is_file(), f"no improvement exported: {hist}"
    avoid = list(worker.loss.eval_path_indices)
    before = _independent_distance(SHIPPED, data.heldout, data.heldout_len, avoid)
    after = _independent_distance(tmp_path / "out" / "model.onnx", data.heldout, data.heldout_len, avoid)
    print(f"\nHydrogen kicks ({n_train} train / {n_held} held out), shipped tr808 → 8 fine-tune steps; "
          f"worker's held-out distance by step {hist}; independent held-out distance (12 other paths) "
          f"{before:.4f} → {after:.4f}")
    assert min(d for _, d in hist[1:]) < hist[0][1]
    assert after < before
