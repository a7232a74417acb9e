"""Distillation (``--teacher``): a frozen full-hit encoder's θ̂ on real one-shots as a student's θ targets."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from scrapl_live.train.checkpoint import load_checkpoint, save_checkpoint
from scrapl_live.train.cli import run_dir_for
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.curves import CSVLog
from scrapl_live.train.trainer import Trainer

torch.set_num_threads(1)
SR = 44100


def _hits(folder, n: int = 12) -> str:
    """``n`` TR-808 one-shots (random θ, 1 s) as WAV files: 7 train, 2 val, 3 test items."""
    import synths

    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        audio = synth(torch.rand(n, synth.n_params, generator=gen), torch.arange(n))[:, 0].numpy()
    folder.mkdir()
    for i, x in enumerate(audio):
        sf.write(str(folder / f"hit{i:02d}.wav"), x / np.abs(x).max() * 0.9, SR)
    return str(folder)


def _teacher(tmp_path, synth: str = "tr808", seed: int = 3) -> str:
    """A full-hit encoder checkpoint whose θ̂ no untrained student has: perturbed weights."""
    window = 44100 if synth == "tr808" else None
    cfg = TrainConfig(synth=synth, loss="ploss", batch_size=2, max_steps=1, val_items=2, synthetic_items=8,
                      window=window, seed=seed, out_dir=str(tmp_path / f"t-{synth}"))
    tr = Trainer(cfg, command="teacher run")
    with torch.no_grad():
        for p in tr.encoder.parameters():
            p.add_(0.5 * torch.randn_like(p))
    return str(save_checkpoint(tmp_path / f"teacher-{synth}.pt", tr.state(full=False)))


def _student(tmp_path, name: str, data: str, teacher: str | None, **extra) -> TrainConfig:
    base = dict(synth="tr808", loss="ploss", batch_size=4, real_per_batch=2, data=data, windows="128,512",
                lr=3e-3, max_steps=40, epoch_steps=40, synthetic_items=16, val_items=2, max_shift=0,
                dropout=0.0, out_dir=str(tmp_path / name))
    return TrainConfig(**{**base, **extra}, teacher=teacher)


@torch.no_grad()
def _gap(trainer: Trainer, items: torch.Tensor, targets: torch.Tensor) -> float:
    """Mean |θ̂ - target| of a student on one-shots ``items`` (M, N), over its windows."""
    trainer.encoder.eval()
    return float(np.mean([(trainer.encoder(items[:, None, :w]) - targets).abs().mean() for w in (128, 512)]))


def test_student_moves_toward_the_teacher_on_real_hits(tmp_path, monkeypatch) -> None:
    from scrapl_live.encoder.encoder import encoder_from_checkpoint
    from scrapl_live.train.distill import Teacher

    data, teacher_path = _hits(tmp_path / "hits"), _teacher(tmp_path)
    student = Trainer(_student(tmp_path, "student", data, teacher_path))
    # the targets are the teacher's θ̂ on each whole, unshifted item, item by item
    teacher, _ = encoder_from_checkpoint(teacher_path)
    items = student.data.real_train.audio
    with torch.no_grad():
        expected = torch.cat([teacher(items[i : i + 1, None]) for i in range(items.shape[0])])
    torch.testing.assert_close(student.data.real_theta, expected, atol=1e-5, rtol=1e-4)
    # control: the same run without a teacher (synthetic rows only)
    control = Trainer(_student(tmp_path, "control", data, None, real_per_batch=0))
    start = _gap(student, items, expected)
    assert _gap(control, items, expected) == pytest.approx(start, rel=1e-6)  # same seed: same initial weights
    student.fit(progress=False)
    control.fit(progress=False)
    moved, unguided = _gap(student, items, expected), _gap(control, items, expected)
    print(f"student-teacher gap on the real items: {start:.4f} at the start, {moved:.4f} after 40 "
          f"distillation steps, {unguided:.4f} after 40 steps without the teacher")  # 0.497, 0.214, 0.553
    assert moved < 0.6 * start and moved < 0.5 * unguided, (start, moved, unguided)
    logged = [float(r["teacher_l1"]) for r in CSVLog(tmp_path / "student" / "train.csv").rows]
    assert len(logged) == 40 and np.mean(logged[-5:]) < 0.5 * np.mean(logged[:5])
    # the card names the teacher; best.pt is chosen by the real val items' distance to it
    best = load_checkpoint(tmp_path / "student" / "best.pt")
    facts = best["card"]["training"]["teacher"]
    with open(teacher_path, "rb") as f:
        assert facts["sha256"] == hashlib.sha256(f.read()).hexdigest()
    assert facts["checkpoint"] == teacher_path and facts["window"] == 44100
    assert facts["command"] == "teacher run" and facts["steps"] == 0
    assert best["best"]["val_teacher_l1"] == pytest.approx(np.mean([best["best"]["val_teacher_l1_w128"],
                                                                   best["best"]["val_teacher_l1_w512"]]))
    # a resumed run reads the cached targets instead of running the teacher again
    monkeypatch.setattr(Teacher, "predict", lambda self, audio: pytest.fail("teacher re-run"))
    again = Trainer(_student(tmp_path, "student", data, teacher_path))
    assert torch.equal(again.data.real_theta, student.data.real_theta)


def test_distillation_resumes_exactly(tmp_path) -> None:
    data, teacher = _hits(tmp_path / "hits"), _teacher(tmp_path)
    Trainer(_student(tmp_path, "full", data, teacher, max_steps=4, epoch_steps=2)).fit(progress=False)
    Trainer(_student(tmp_path, "split", data, teacher, max_steps=4, epoch_steps=2)).fit(progress=False,
                                                                                        stop_at=3)
    Trainer(_student(tmp_path, "split", data, teacher, max_steps=4, epoch_steps=2)).fit(progress=False)
    a, b = (load_checkpoint(tmp_path / run / "last.pt") for run in ("full", "split"))
    assert a["step"] == b["step"] == 4
    assert all(torch.equal(a["encoder_state"][k], b["encoder_state"][k]) for k in a["encoder_state"])
    # a teacher file that changed under a paused run: resuming would switch targets, so it is refused
    other = _teacher(tmp_path, seed=4)
    changed = Trainer(_student(tmp_path, "split", data, other, max_steps=6, epoch_steps=2))
    with pytest.raises(ValueError, match="is not the file this run began with"):
        changed.fit(progress=False)


def test_teacher_config_round_trip_and_checks(tmp_path) -> None:
    cfg = TrainConfig(synth="tr808", loss="ploss", data="d", real_per_batch=4, teacher="t.pt")
    assert TrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    plain = TrainConfig(synth="tr808", loss="ploss")
    old = {k: v for k, v in plain.to_dict().items() if k != "teacher"}  # a checkpoint from before --teacher
    assert TrainConfig.from_dict(old) == plain
    # a run named by its config hash keeps its folder: the hash of the config as it was before the field
    digest = hashlib.sha256(json.dumps({k: v for k, v in old.items() if k not in ("out_dir", "max_steps",
                                                                                 "ema_decay")},
                                       sort_keys=True, default=str).encode()).hexdigest()[:8]
    assert run_dir_for(plain) == f"runs/tr808-ploss-seed0-{digest}" != run_dir_for(cfg)
    for bad in (dict(loss="scrapl"), dict(real_per_batch=0)):
        with pytest.raises(ValueError, match="teacher"):
            TrainConfig(**{**cfg.to_dict(), **bad})


def test_a_wrong_teacher_is_a_one_line_error(tmp_path) -> None:
    data = _hits(tmp_path / "hits")
    with pytest.raises(ValueError, match="synth 'granular'.*tr808"):
        Trainer(_student(tmp_path, "s", data, _teacher(tmp_path, "granular")))
    missing = tmp_path / "nope.pt"
    cmd = [sys.executable, "-m", "scrapl_live.cli", "train", "--synth", "tr808", "--loss", "ploss",
           "--data", data, "--real-per-batch", "2", "--batch-size", "4", "--teacher", str(missing),
           "--out-dir", str(tmp_path / "cli")]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1
    lines = [line for line in run.stderr.splitlines() if not line.startswith("INFO")]
    assert lines == [f"scrapl-live train: error: --teacher {missing}: no such checkpoint (pass a trained "
                     "encoder's .pt, e.g. runs/NAME/best.pt)"]
