"""Trainer: config checks, deterministic batch stream, exact resume in a fresh process, DDP (2 gloo ranks)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from scrapl_live.train.checkpoint import load_checkpoint, save_checkpoint
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.curves import CSVLog
from scrapl_live.train.data import BatchStream, rank_slice

# Small SCRAPL run on the granular texture (P = 315, P-Adam + P-SAGA, SGD), validated every 2 steps.
TINY = [
    "--synth",
    "granular",
    "--loss",
    "scrapl",
    "--batch-size",
    "2",
    "--lr",
    "1e-3",
    "--max-steps",
    "3",
    "--epoch-steps",
    "2",
    "--val-items",
    "2",
    "--dropout",
    "0",
]


def _train(out, *extra: str) -> None:
    cmd = [sys.executable, "-m", "scrapl_live.cli", "train", *TINY, "--out-dir", str(out), *extra]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValueError, match="synth"):
        TrainConfig(synth="moog")
    with pytest.raises(ValueError, match="loss"):
        TrainConfig(loss="l2")
    with pytest.raises(ValueError, match="real_per_batch"):
        TrainConfig(synth="tr808", real_per_batch=2)
    with pytest.raises(ValueError, match="theta_is"):
        TrainConfig(loss="mss-lin", theta_is=True)
    cfg = TrainConfig(synth="tr808", loss="scrapl", p_adam=False, p_saga=False)
    assert cfg.batch == 8 and cfg.learning_rate == 1e-4 and not cfg.pathwise
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg
    knee = TrainConfig(synth="tr808", log1p_eps=1e-4)
    assert knee.jtfs_settings["grad_mult"] == 1.0 and knee.jtfs_distance_settings == {
        k: v for k, v in knee.jtfs_settings.items() if k != "grad_mult"
    } and knee.jtfs_distance_settings["log1p_eps"] == 1e-4
    old = {k: v for k, v in cfg.to_dict().items() if k != "init"}  # checkpoints from before --init
    assert TrainConfig.from_dict(old) == cfg
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({"colour": 1})


def test_batch_stream_is_a_function_of_the_step() -> None:
    a, b = BatchStream(10, 3, seed=5), BatchStream(10, 3, seed=5)
    seq = [a.indices(s) for s in range(7)]
    # each cycle (3 batches) is a permutation prefix: no repeats within a cycle
    assert len(set(torch.cat(seq[:3]).tolist())) == 9
    assert not torch.equal(torch.cat(seq[:3]), torch.cat(seq[3:6]))
    # random access (as after a resume) gives the same batches
    assert all(torch.equal(b.indices(s), seq[s]) for s in (6, 2, 4, 0))
    assert not torch.equal(BatchStream(10, 3, seed=5, key=1).indices(0), seq[0])
    assert rank_slice(8, 1, 2) == slice(4, 8)
    with pytest.raises(ValueError, match="divisible"):
        rank_slice(6, 0, 4)
    with pytest.raises(ValueError, match="batch_size"):
        BatchStream(2, 3, seed=0)


def test_checkpoint_roundtrip_and_errors(tmp_path) -> None:
    ckpt = {
        "encoder_config": {},
        "encoder_state": {"w": torch.ones(2)},
        "card": {},
        "train_config": {},
        "step": 3,
    }
    save_checkpoint(tmp_path / "c.pt", ckpt)
    assert torch.equal(load_checkpoint(tmp_path / "c.pt")["encoder_state"]["w"], torch.ones(2))
    with pytest.raises(ValueError, match="missing"):
        save_checkpoint(tmp_path / "d.pt", {"step": 1})
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="unreadable"):
        load_checkpoint(tmp_path / "bad.pt")


def _tensorboard_scalars(run) -> dict[str, list[tuple[int, float]]]:
    """Every scalar series TensorBoard shows for ``run`` (its reader, after purging re-logged steps)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run / "tensorboard"))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


def _csv_series(run, name: str, prefix: str) -> dict[str, list[tuple[int, float]]]:
    rows = CSVLog(run / name).rows
    keys = {k for r in rows for k in r if k != "step" and r[k] not in ("", None)}
    return {f"{prefix}/{k}": [(int(r["step"]), float(r[k])) for r in rows if r.get(k) not in ("", None)]
            for k in keys}


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.slow
def test_time_limit_pauses_after_the_step_that_ends_it(tmp_path) -> None:
    run = tmp_path / "timed"
    _train(run, "--time-limit", "1e-6")  # every step outlasts a microsecond: pause after step 1
    assert load_checkpoint(run / "last.pt")["step"] == 1
    _train(run)  # resumes to max_steps
    assert load_checkpoint(run / "last.pt")["step"] == 3
    rows = CSVLog(run / "train.csv").rows
    assert [int(r["step"]) for r in rows] == [1, 2, 3]
    walls = [float(r["wall_s"]) for r in rows]
    assert all(w > 0 for w in walls) and walls[2] > walls[1]  # per process: steps 2-3 ran in the second
    with pytest.raises(subprocess.CalledProcessError):
        _train(tmp_path / "bad", "--time-limit", "0")


@pytest.mark.slow
def test_raising_max_steps_on_resume_extends_the_linear_decay(tmp_path) -> None:
    """A finished 3-step run resumed with --max-steps 6: the LR keeps falling linearly from where it
    ended, at the 6-step schedule's slope (closed form of LinearLR's chained update)."""
    run, lr0, f = tmp_path / "ext", 1e-3, 0.1
    _train(run)
    _train(run, "--max-steps", "6")
    lrs = [float(r["lr"]) for r in CSVLog(run / "train.csv").rows]  # the LR after each step's update
    first = [lr0 * (1 - (1 - f) * k / 3) for k in (1, 2, 3)]
    then = [first[-1] * (1 - (1 - f) * k / 6) / (1 - (1 - f) * 3 / 6) for k in (4, 5, 6)]
    assert lrs == pytest.approx(first + then, rel=1e-6)
    assert load_checkpoint(run / "last.pt")["step"] == 6


@pytest.mark.slow
def test_resume_in_fresh_process_is_exact(tmp_path) -> None:
    _train(tmp_path / "full")
    _train(tmp_path / "split", "--stop-at", "2")
    paused = load_checkpoint(tmp_path / "split" / "last.pt")
    assert paused["step"] == 2
    # a crashed process's scalars after the checkpoint: the resumed run must replace them
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp_path / "split" / "tensorboard")) as crashed:
        crashed.add_scalar("train/loss", 999.0, 3)
    _train(tmp_path / "split")  # a new process resumes from last.pt
    full, split = (
        load_checkpoint(tmp_path / "full" / "last.pt"),
        load_checkpoint(tmp_path / "split" / "last.pt"),
    )
    assert full["step"] == split["step"] == 3
    assert _state_equal(full["encoder_state"], split["encoder_state"])
    # P-Adam moments, SAGA memory and the path counters also match
    loss_a, loss_b = full["loss_state"], split["loss_state"]
    assert loss_a.keys() == loss_b.keys()
    assert all(torch.equal(loss_a[k], loss_b[k]) for k in loss_a if isinstance(loss_a[k], torch.Tensor))
    assert not _state_equal(paused["encoder_state"], full["encoder_state"])  # it did train
    # the encoder loader reads the trainer's checkpoints
    from scrapl_live.encoder.encoder import encoder_from_checkpoint

    enc, card = encoder_from_checkpoint(tmp_path / "full" / "best.pt")
    assert card["training"]["config"]["loss"] == "scrapl" and enc.config.synth == "granular"
    # TensorBoard shows what the CSVs hold, each step once although the split run logged in two processes
    for run in ("full", "split"):
        expected = {**_csv_series(tmp_path / run, "train.csv", "train"),
                    **_csv_series(tmp_path / run, "val.csv", "val")}
        shown = _tensorboard_scalars(tmp_path / run)
        assert shown.keys() == expected.keys() and "train/loss" in shown and "val/val_theta_l1" in shown
        for tag, series in expected.items():
            assert [s for s, _ in shown[tag]] == [s for s, _ in series], tag
            assert [v for _, v in shown[tag]] == pytest.approx([v for _, v in series], rel=1e-6), tag
    assert [s for s, _ in _tensorboard_scalars(tmp_path / "split")["train/loss"]] == [1, 2, 3]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun is not installed")
def test_ddp_two_gloo_ranks_match_one_process(tmp_path) -> None:
    _train(tmp_path / "single", "--max-steps", "1", "--batch-size", "4")
    cmd = [
        "torchrun",
        "--standalone",
        "--nproc-per-node",
        "2",
        "-m",
        "scrapl_live.cli",
        "train",
        *TINY,
        "--max-steps",
        "1",
        "--batch-size",
        "4",
        "--out-dir",
        str(tmp_path / "ddp"),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    one, two = load_checkpoint(tmp_path / "single" / "last.pt"), load_checkpoint(tmp_path / "ddp" / "last.pt")
    # Same global batch split over two ranks, gradients all-reduced, then P-Adam/P-SAGA: the same update up
    # to float noise. P-Adam's first-visit update is ≈ lr·sign(g), and batch-size-dependent conv kernels
    # move θ̂ by ~1e-7, which changes this loss's gradient by ~1e-3 relative: entries with |g| below that
    # noise may flip (measured: 2e-4 of the weights). P-Adam applied per rank *before* the all-reduce would
    # average disagreeing signs to ~0 on a large share of the weights. (The trainer itself raises if the
    # ranks' paths differ.) Only one step: after a flip the runs follow different float trajectories.
    n_total = n_off = 0
    for k, v in one["encoder_state"].items():
        off = ~torch.isclose(v, two["encoder_state"][k], atol=1e-6, rtol=1e-4)
        n_total, n_off = n_total + v.numel(), n_off + int(off.sum())
    assert n_off <= 1e-3 * n_total, f"{n_off} of {n_total} weights differ"
    rows_one = CSVLog(tmp_path / "single" / "train.csv").rows
    rows_two = CSVLog(tmp_path / "ddp" / "train.csv").rows
    assert [r["path"] for r in rows_one] == [r["path"] for r in rows_two]
    for a, b in zip(rows_one, rows_two, strict=True):  # logged losses are global-batch means
        assert float(a["loss"]) == pytest.approx(float(b["loss"]), rel=1e-5)
        assert float(a["theta_l1"]) == pytest.approx(float(b["theta_l1"]), rel=1e-5)


def test_init_copies_the_checkpoint_encoder_weights(tmp_path) -> None:
    from scrapl_live.train.trainer import Trainer

    torch.set_num_threads(1)
    base = dict(synth="granular", loss="ploss", batch_size=2, max_steps=1, val_items=2, dropout=0.0)
    donor = Trainer(TrainConfig(**base, seed=1, out_dir=str(tmp_path / "a")), command="stage A")
    with torch.no_grad():
        for p in donor.encoder.parameters():
            p.add_(torch.randn_like(p))  # weights no fresh seed-0 initialisation can have
    donor_path = str(save_checkpoint(tmp_path / "donor.pt", donor.state(full=False)))
    fresh = Trainer(TrainConfig(**base, seed=0, out_dir=str(tmp_path / "b")))
    warm = Trainer(TrainConfig(**base, seed=0, out_dir=str(tmp_path / "c"), init=donor_path))
    assert _state_equal(warm.encoder.state_dict(), donor.encoder.state_dict())
    assert not _state_equal(warm.encoder.state_dict(), fresh.encoder.state_dict())
    assert warm.state()["train_config"]["init"] == donor_path  # recorded in the card, with its command
    assert warm.state()["card"]["training"]["init"]["command"] == "stage A"
    assert "init" not in fresh.state()["card"]["training"]
    with pytest.raises(ValueError, match="init checkpoint"):
        Trainer(TrainConfig(**base, window=1024, out_dir=str(tmp_path / "d"), init=donor_path))
    with pytest.raises(FileNotFoundError):
        Trainer(TrainConfig(**base, out_dir=str(tmp_path / "e"), init=str(tmp_path / "missing.pt")))
