"""``scrapl-live train`` flags and ``--config``; TrainConfig.from_dict on configs of older checkpoints."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import pytest
import torch

from scrapl_live.train.cli import config_from_args, register
from scrapl_live.train.config import TrainConfig, removed_features

MODELS = Path(__file__).resolve().parents[2] / "models"
# A config as the trainer stored it before vote-IS, balanced paths, lean padding, θ-gradient
# normalisation and ``windows`` were removed or added (the keys of that version's TrainConfig.to_dict()).
OLD = {
    "synth": "granular", "loss": "scrapl", "size": "live", "out_dir": "runs/old", "seed": 3, "batch_size": 8,
    "lr": 1e-3, "weight_decay": 0.01, "lr_end_factor": 0.1, "max_steps": 6000, "epoch_steps": 500,
    "p_adam": True, "p_saga": True, "theta_is": False, "theta_is_batches": 1, "theta_is_iters": 20,
    "vote_is": False, "vote_is_items": 32, "paths_per_step": 4, "balance_paths": False, "lean": False,
    "theta_grad_norm": False, "log1p_eps": None, "eval_paths": 8, "synthetic_items": 4096, "sampling": "log",
    "data": None, "real_per_batch": 0, "max_shift": 2048, "max_files": None, "val_items": 256,
    "dropout": None, "window": None, "init": None, "ema_decay": None,
}


def _parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser()
    register(top.add_subparsers(dest="command"))
    return top


def _train_parser() -> argparse.ArgumentParser:
    sub = next(a for a in _parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices["train"]


def test_every_flag_has_help_with_its_default_and_choices() -> None:
    train = _train_parser()
    for action in train._actions:
        if action.dest in ("help", "restart"):
            continue
        assert action.help and "default" in action.help, action.option_strings
    choices = {a.dest: a.choices for a in train._actions if a.choices}
    assert set(choices) >= {"synth", "loss", "size", "sampling", "device"}
    flags = {s for a in train._actions for s in a.option_strings}
    for gone in ("--vote-is", "--vote-is-items", "--balance-paths", "--lean", "--theta-grad-norm"):
        assert gone not in flags


def test_config_replays_a_checkpoint_and_explicit_flags_win(tmp_path) -> None:
    """A checkpoint whose config has the keys of removed features replays exactly, except the flags given
    and its out_dir (a replay must not resume the original run); so does the shipped models/tr808.pt."""
    old = tmp_path / "old.pt"
    torch.save({"train_config": OLD, "encoder_config": {}, "encoder_state": {}, "card": {}, "step": 60}, old)
    args = _parser().parse_args(["train", "--config", str(old), "--max-steps", "7", "--no-p-saga"])
    cfg = config_from_args(args)
    expected = {**{k: v for k, v in OLD.items() if k in cfg.to_dict()}, "max_steps": 7, "p_saga": False}
    expected.pop("out_dir")
    assert {k: cfg.to_dict()[k] for k in expected} == expected and cfg.windows is None
    assert cfg.out_dir != OLD["out_dir"]
    stored = torch.load(MODELS / "tr808.pt", weights_only=False)["train_config"]
    shipped = config_from_args(_parser().parse_args(["train", "--config", str(MODELS / "tr808.pt")]))
    assert shipped == TrainConfig.from_dict({**stored, "out_dir": shipped.out_dir})
    assert shipped.out_dir != stored["out_dir"]


def test_config_reads_a_model_card_and_a_plain_json(tmp_path) -> None:
    card = json.loads((MODELS / "granular.json").read_text())
    args = _parser().parse_args(["train", "--config", str(MODELS / "granular.onnx")])
    replayed = config_from_args(args)
    assert replayed == TrainConfig.from_dict({**card["training"]["config"], "out_dir": replayed.out_dir})
    plain = tmp_path / "cfg.json"
    plain.write_text(json.dumps(TrainConfig(synth="tr808", loss="mss-rev", seed=5).to_dict()))
    cfg = config_from_args(_parser().parse_args(["train", "--config", str(plain), "--seed", "6"]))
    assert (cfg.synth, cfg.loss, cfg.seed) == ("tr808", "mss-rev", 6)
    (tmp_path / "empty.json").write_text("{}")
    for bad in ("empty.json", "missing.json"):
        with pytest.raises((ValueError, FileNotFoundError), match="config"):
            config_from_args(_parser().parse_args(["train", "--config", str(tmp_path / bad)]))


def test_synth_and_loss_are_needed_without_config() -> None:
    with pytest.raises(ValueError, match="--loss"):
        config_from_args(_parser().parse_args(["train", "--synth", "granular"]))
    cfg = config_from_args(_parser().parse_args(["train", "--synth", "granular", "--loss", "scrapl"]))
    assert cfg == TrainConfig(synth="granular", loss="scrapl", out_dir=cfg.out_dir)
    assert cfg.paths_per_step == 4


def test_from_dict_reads_configs_with_removed_features(caplog) -> None:
    with caplog.at_level(logging.WARNING):
        cfg = TrainConfig.from_dict(OLD)
    assert not caplog.records and removed_features(OLD) == []
    kept = {k: v for k, v in OLD.items() if k in cfg.to_dict()}
    assert {k: cfg.to_dict()[k] for k in kept} == kept
    used = {**OLD, "vote_is": True, "lean": True}
    with caplog.at_level(logging.WARNING):
        assert TrainConfig.from_dict(used) == cfg
    assert removed_features(used) == ["lean", "vote_is"] and "removed features" in caplog.text
    # a config from before paths_per_step existed trained one path per step, whatever today's default
    older = {k: v for k, v in OLD.items() if k != "paths_per_step"}
    assert TrainConfig.from_dict(older).paths_per_step == 1
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_dict({**OLD, "colour": 1})


def test_a_run_that_used_a_removed_feature_is_not_resumed(tmp_path) -> None:
    from scrapl_live.train.trainer import Trainer

    torch.set_num_threads(1)
    tr = Trainer(TrainConfig(synth="granular", loss="ploss", batch_size=2, max_steps=1, val_items=2,
                             out_dir=str(tmp_path)))
    ckpt = tr.state()
    tr.load({**ckpt, "train_config": {**ckpt["train_config"], "theta_grad_norm": False}})  # off: resumes
    with pytest.raises(ValueError, match="removed features.*theta_grad_norm"):
        tr.load({**ckpt, "train_config": {**ckpt["train_config"], "theta_grad_norm": True}})
