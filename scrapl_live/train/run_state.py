"""A run's checkpoint dict and its restore (exact resume), and the ``--init`` warm start.

The file format is :mod:`scrapl_live.train.checkpoint`'s; these functions fill and read it from a
:class:`~scrapl_live.train.trainer.Trainer`'s parts (encoder, optimiser, scheduler, loss, weight average,
step, history, best record, card facts).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from scrapl_live.train import checkpoint as ckpt_io
from scrapl_live.train.config import TrainConfig, removed_features
from scrapl_live.train.ema import WeightEMA

if TYPE_CHECKING:
    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.train.trainer import Trainer

log = logging.getLogger(__name__)


def init_weights(encoder: Encoder, path: str) -> dict[str, Any]:
    """Copy the encoder weights of checkpoint ``path`` (e.g. a P-loss warm start) into ``encoder``;
    returns that checkpoint's ``card["training"]``. ValueError when the encoders differ."""
    from scrapl_live.encoder.presets import EncoderConfig

    ckpt = ckpt_io.load_checkpoint(path)
    if EncoderConfig.from_dict(ckpt["encoder_config"]) != encoder.config:
        raise ValueError(
            f"init checkpoint {path} holds a different encoder ({ckpt['encoder_config']}) "
            f"than this run ({encoder.config.to_dict()})"
        )
    encoder.load_state_dict(ckpt["encoder_state"])
    log.info("initialised the encoder from %s (step %s)", path, ckpt["step"])
    return dict(ckpt["card"].get("training") or {})


def run_state(tr: Trainer, full: bool = True) -> dict[str, Any]:
    """Checkpoint dict of ``tr`` (see :mod:`scrapl_live.train.checkpoint`). ``full=False`` leaves out what
    only resuming needs (optimiser, scheduler, SCRAPL state with its P×|w| path tables, RNG): ``best.pt``."""
    from scrapl_live.encoder.encoder import encoder_checkpoint

    card = {
        "training": {
            "command": tr.command, "config": tr.cfg.to_dict(), "steps": tr.step, "git_commit": tr.git_commit,
        },
        "metrics": {k: v for k, v in (tr.best or {}).items() if k.startswith("val_")},
    }
    if tr.init_training is not None:  # the warm start's own training facts (e.g. stage A's command)
        card["training"]["init"] = {"checkpoint": tr.cfg.init, **tr.init_training}
    if tr.teacher is not None:  # distillation: the teacher's file, digest and training facts
        card["training"]["teacher"] = tr.teacher
    ema = tr.ema
    averaged = ema is not None and not full  # best.pt: the validated (averaged) weights
    if averaged:
        card["training"]["weights"] = f"moving average (decay {ema.decay}) from step {ema.start}"
    out = {
        **encoder_checkpoint(tr.encoder, card),
        "train_config": tr.cfg.to_dict(),
        "step": tr.step,
        "epoch": tr.step // tr.data.epoch_steps,
        "history": tr.history,
        "best": tr.best,
    }
    if averaged:
        out["encoder_state"] = {k: v.detach().cpu().clone() for k, v in ema.shadow.items()}
    elif ema is not None:  # last.pt: raw weights to train on, and the average
        out["ema"] = ema.state_dict()
    if full:
        out.update(
            optimizer=tr.opt.state_dict(),
            scheduler=tr.sched.state_dict(),
            loss_state=tr.loss.state_dict(),
            rng=ckpt_io.rng_state(),
        )
    return out


def restore(tr: Trainer, ckpt: dict[str, Any]) -> None:
    """Restore into ``tr`` everything :func:`run_state` saved (the config must match except ``max_steps``,
    and an ``ema_decay`` may be set on a run that had none: the average starts at the resumed weights;
    fields added since the checkpoint was written, such as ``init``, take their defaults; a teacher must
    be the same file, by SHA-256)."""
    removed = removed_features(ckpt["train_config"])
    if removed:
        raise ValueError(f"checkpoint was trained with removed features {removed}: it cannot be resumed "
                         "(start a new run, or --init from it)")
    cfg = tr.cfg.to_dict()
    saved_cfg = TrainConfig.from_dict(ckpt["train_config"]).to_dict()
    saved = dict(saved_cfg, max_steps=tr.cfg.max_steps, out_dir=tr.cfg.out_dir)
    if saved["ema_decay"] is None:  # the average may start on resume
        saved["ema_decay"] = tr.cfg.ema_decay
    if saved != cfg:
        diff = sorted(k for k in saved if saved[k] != cfg.get(k))
        raise ValueError(f"checkpoint was trained with a different config (fields {diff})")
    taught = (ckpt["card"].get("training") or {}).get("teacher")
    if tr.teacher is not None and taught is not None and taught["sha256"] != tr.teacher["sha256"]:
        raise ValueError(f"the teacher {tr.teacher['checkpoint']} is not the file this run began with "
                         f"(SHA-256 {taught['sha256'][:12]}…, now {tr.teacher['sha256'][:12]}…): put it "
                         "back, or distil from a fixed copy in a new run")
    tr.encoder.load_state_dict(ckpt["encoder_state"])
    tr.opt.load_state_dict(ckpt["optimizer"])
    tr.sched.load_state_dict(ckpt["scheduler"])
    tr.sched.total_iters = tr.cfg.max_steps
    tr.loss.load_state_dict(ckpt["loss_state"])
    ckpt_io.set_rng_state(ckpt["rng"])
    tr.step, tr.history, tr.best = int(ckpt["step"]), list(ckpt["history"]), ckpt["best"]
    if tr.ema is not None and "ema" in ckpt:
        tr.ema.load_state_dict(ckpt["ema"])
    elif tr.ema is not None:
        tr.ema = WeightEMA(tr.encoder, tr.ema.decay, step=tr.step)
        log.info("weight average (decay %s) starts at the resumed step %d", tr.ema.decay, tr.step)
