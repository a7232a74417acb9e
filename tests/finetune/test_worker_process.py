"""Fine-tune worker processes: ``kill -9`` at random moments (checkpoints written every step) always
leaves a loadable checkpoint and a restart continues the step count; the supervisor restarts a
crashing worker with exponential backoff and reports each crash."""

from __future__ import annotations

import logging
import multiprocessing
import os
import random
import signal
import time
from dataclasses import asdict
from pathlib import Path

import pytest
import torch

from scrapl_live.finetune.persist import load_last_checkpoint, save_checkpoint_durable
from scrapl_live.finetune.supervisor import Supervisor
from scrapl_live.finetune.worker import run_worker
from scrapl_live.train.checkpoint import REQUIRED_KEYS
from tests.finetune.helpers import export_start_model, fill_store, small_config, user_sounds

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("ftp")
    model = export_start_model(tmp / "start.onnx")
    sounds, _ = user_sounds(6)
    fill_store(tmp / "store", sounds)
    return tmp, model, tmp / "store"


def _wait_for(pred, timeout_s: float) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.3)
    return False


@pytest.mark.slow
def test_kill9_leaves_loadable_checkpoint_and_resume_continues(setup: tuple[Path, Path, Path]) -> None:
    tmp, model, store = setup
    cfg = small_config(tmp, model, store, out_dir=str(tmp / "k9"), batch_size=1, ckpt_every=1,
                       eval_every=1000, max_steps=100)
    ckpt_dir = tmp / "k9" / "ckpt"
    ctx = multiprocessing.get_context("spawn")
    rng = random.Random(0)
    steps = []
    for _ in range(3):
        before = load_last_checkpoint(ckpt_dir)
        p = ctx.Process(target=run_worker, args=(asdict(cfg),), daemon=True)
        p.start()
        # wait until this run has written a new checkpoint, then kill at a random moment of the next ones
        start_step = -1 if before is None else before["step"]
        assert _wait_for(lambda s=start_step: _step(ckpt_dir) > s, 300), "worker wrote no checkpoint"
        # temp files of writers killed earlier are gone once this worker has written its checkpoint (its own
        # may exist: it writes one every step); write_atomic names them .last.pt.{pid}-{uuid}.tmp
        tmps = list(ckpt_dir.glob(".last.pt.*.tmp"))
        assert all(t.name.startswith(f".last.pt.{p.pid}-") for t in tmps), [t.name for t in tmps]
        time.sleep(rng.uniform(0.0, 3.0))
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        assert p.exitcode == -signal.SIGKILL
        ckpt = load_last_checkpoint(ckpt_dir)  # never torn: last.pt or prev.pt is complete
        assert ckpt is not None and ckpt["step"] > start_step
        assert {"optimizer", "loss_state", "rng", "encoder_state"} <= set(ckpt)
        steps.append(ckpt["step"])
    assert steps == sorted(steps) and len(set(steps)) == 3  # every restart went on from the last step


def test_durable_save_sweeps_killed_writers_temp_and_keeps_predecessor(tmp_path: Path) -> None:
    stale = tmp_path / ".last.pt.99999-deadbeef.tmp"  # what write_atomic leaves when kill -9 lands mid-write
    stale.write_bytes(b"half a checkpo")
    keys = dict.fromkeys(REQUIRED_KEYS)
    save_checkpoint_durable(tmp_path, {**keys, "step": 1})
    save_checkpoint_durable(tmp_path, {**keys, "step": 2})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt", "prev.pt"]
    assert torch.load(tmp_path / "prev.pt")["step"] == 1 and load_last_checkpoint(tmp_path)["step"] == 2
    (tmp_path / "last.pt").write_bytes(b"torn")  # a torn last.pt falls back to prev.pt
    assert load_last_checkpoint(tmp_path)["step"] == 1


def _step(ckpt_dir: Path) -> int:
    ckpt = load_last_checkpoint(ckpt_dir) if (ckpt_dir / "last.pt").exists() else None
    return -1 if ckpt is None else int(ckpt["step"])


@pytest.mark.slow
def test_supervisor_restarts_crashing_worker_with_backoff(setup: tuple[Path, Path, Path], caplog) -> None:
    tmp, model, store = setup
    broken = tmp / "broken.onnx"
    broken.write_bytes(model.read_bytes()[:1000])  # truncated: the worker fails at start-up
    broken.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    cfg = small_config(tmp, broken, store, out_dir=str(tmp / "sup"), max_steps=2)
    sup = Supervisor(cfg, backoff_s=0.2, max_backoff_s=0.5, max_restarts=3, max_identical=None)
    with caplog.at_level(logging.ERROR, logger="scrapl_live.finetune.supervisor"):
        sup.start()
        assert sup.wait(600)
    assert sup.starts == 4 and not sup.finished
    assert [c.exitcode for c in sup.crashes] == [1, 1, 1, 1]
    assert [c.restart_delay_s for c in sup.crashes] == [0.2, 0.4, 0.5, 0.5]  # doubling, capped
    assert caplog.text.count("fine-tune worker crashed") == 4 and "giving up" in caplog.text


@pytest.mark.slow
def test_supervisor_recovers_after_a_kill(setup: tuple[Path, Path, Path]) -> None:
    tmp, model, store = setup
    cfg = small_config(tmp, model, store, out_dir=str(tmp / "rec"), max_steps=6, batch_size=1)
    sup = Supervisor(cfg, backoff_s=0.1).start()
    try:
        assert _wait_for(lambda: sup.pid is not None and (tmp / "rec" / "status.json").exists(), 300)
        os.kill(sup.process.pid, signal.SIGKILL)
        assert sup.wait(600)
    finally:
        sup.stop()
    assert sup.finished and sup.starts == 2 and sup.crashes[0].exitcode == -signal.SIGKILL
    assert load_last_checkpoint(tmp / "rec" / "ckpt")["step"] == 6
