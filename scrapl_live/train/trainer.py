"""Sound-matching trainer: audio → encoder → θ̂ → synth → x̂, loss(x̂, x), optimiser step.

SCRAPL with P-Adam/P-SAGA: the gradients are rewritten optimizer-side (``SCRAPLLoss.transform_grads``)
after backward — i.e. after the DDP all-reduce — then plain SGD steps; otherwise AdamW (both built by
``train/losses.py::make_objective``, shared with the fine-tune worker). Every random
choice of step s (data order, the synth seeds of x̂, target shifts, dropout, SCRAPL's path) is a
function of (run seed, s), so a run resumed from a checkpoint continues bit-exactly and every DDP
rank draws the same path. Validation is deterministic (θ L1 on the val split, or the loss in eval
mode on real one-shots) and picks ``best.pt``; ``last.pt`` is written after every epoch. With
``ema_decay`` the validated and ``best.pt`` weights are the moving average (train/ema.py); the raw
weights' validation is logged beside it as ``val_raw_*``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scrapl_live.train import checkpoint as ckpt_io
from scrapl_live.train.config import TrainConfig, removed_features
from scrapl_live.train.curves import RunLogs, plot_curves
from scrapl_live.train.data import (
    BatchStream,
    draw_window,
    mix_seed,
    parse_windows,
    rank_slice,
    real_dataset,
    synthetic_dataset,
)
from scrapl_live.train.ema import WeightEMA
from scrapl_live.train.losses import make_objective
from scrapl_live.train.warmups import theta_is_warmup

log = logging.getLogger(__name__)


def _dist() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


class Trainer:
    """One training run for ``cfg``; ``fit()`` trains to ``cfg.max_steps`` (resuming from ``last.pt``)."""

    def __init__(self, cfg: TrainConfig, command: str = "", device: str | torch.device = "cpu") -> None:
        import synths
        from scrapl_live.encoder.encoder import Encoder
        from scrapl_live.encoder.presets import encoder_config

        self.cfg, self.command = cfg, command
        self.device = torch.device(device)
        self.rank, self.world = _dist()
        self.out = Path(cfg.out_dir)
        self.synth = synths.get(cfg.synth, **cfg.synth_options).to(self.device)
        enc_cfg = encoder_config(cfg.synth, cfg.size, cfg.window, windows=parse_windows(cfg.windows))
        if cfg.dropout is not None:
            enc_cfg = dataclasses.replace(enc_cfg, cnn=dataclasses.replace(enc_cfg.cnn, dropout=cfg.dropout))
        torch.manual_seed(cfg.seed)  # identical initial weights on every rank
        self.encoder = Encoder(enc_cfg).to(self.device)
        self.init_training: dict[str, Any] | None = None  # card["training"] of the --init checkpoint
        if cfg.init is not None:
            self._init_encoder(cfg.init)
        self.ema = WeightEMA(self.encoder, cfg.ema_decay) if cfg.ema_decay is not None else None
        self.model: nn.Module = self.encoder
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(self.encoder)
        self.window = enc_cfg.window
        self.loss, self.opt = make_objective(cfg, self.synth, self.encoder.parameters(), self.device)
        self.sched = torch.optim.lr_scheduler.LinearLR(
            self.opt, start_factor=1.0, end_factor=cfg.lr_end_factor, total_iters=cfg.max_steps
        )
        self._git_commit = ckpt_io.git_commit()  # recorded in every checkpoint's card
        self._build_data()
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None

    def _init_encoder(self, path: str) -> None:
        """Copy the encoder weights of checkpoint ``path`` (e.g. a P-loss warm start) into this run's
        encoder; optimiser, scheduler and loss state start fresh. ValueError when the encoders differ."""
        from scrapl_live.encoder.presets import EncoderConfig

        ckpt = ckpt_io.load_checkpoint(path)
        if EncoderConfig.from_dict(ckpt["encoder_config"]) != self.encoder.config:
            raise ValueError(
                f"init checkpoint {path} holds a different encoder ({ckpt['encoder_config']}) "
                f"than this run ({self.encoder.config.to_dict()})"
            )
        self.encoder.load_state_dict(ckpt["encoder_state"])
        self.init_training = dict(ckpt["card"].get("training") or {})
        log.info("initialised the encoder from %s (step %s)", path, ckpt["step"])

    # Data ------------------------------------------------------------------------------------------
    def _build_data(self) -> None:
        cfg, sr, n = self.cfg, self.synth.sample_rate, self.synth.n_samples
        self.n_real = cfg.real_per_batch
        self.n_syn = cfg.batch - self.n_real
        self.syn_train = synthetic_dataset(cfg, "train", self.synth.params) if self.n_syn else None
        self.syn_val = synthetic_dataset(cfg, "val", self.synth.params) if self.n_syn else None
        self.real_train = real_dataset(cfg, "train", sr, n) if self.n_real else None
        self.real_val = real_dataset(cfg, "val", sr, n) if self.n_real else None
        self.syn_stream = (
            BatchStream(len(self.syn_train), self.n_syn, cfg.seed, 0) if self.syn_train else None
        )
        self.real_stream = (
            BatchStream(len(self.real_train), self.n_real, cfg.seed, 1) if self.real_train else None
        )
        primary = self.syn_stream or self.real_stream
        self.epoch_steps = cfg.epoch_steps or primary.batches_per_cycle
        rank_slice(cfg.batch, self.rank, self.world)  # validates divisibility early

    def _targets(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Global batch of step: target audio (B, 1, N) and true θ of its synthetic rows (n_syn, U)."""
        parts, theta = [], None
        if self.syn_stream is not None:
            idx = self.syn_stream.indices(step)
            theta, seed = self.syn_train.theta[idx], self.syn_train.seed[idx]
            with torch.no_grad():
                parts.append(self.synth(theta.to(self.device), seed))
            theta = theta.to(self.device)
        if self.real_stream is not None:
            self.real_train.set_epoch(self.real_stream.cycle(step))
            idx = self.real_stream.indices(step)
            parts.append(torch.stack([self.real_train[int(i)]["audio"] for i in idx]).to(self.device))
        return torch.cat(parts), theta

    # Steps -----------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        """One optimiser step at global step ``step``; returns {"loss", "lr", "theta_l1" (synthetic rows)}."""
        cfg = self.cfg
        self.model.train()
        self.loss.train()
        x, theta = self._targets(step)
        gen = torch.Generator().manual_seed(mix_seed(cfg.seed, step, 1))
        seed_hat = torch.randint(0, 2**31 - 1, (cfg.batch,), generator=gen)
        torch.manual_seed(mix_seed(cfg.seed, step, 2, self.rank))  # dropout masks
        sl = rank_slice(cfg.batch, self.rank, self.world)
        x, seed_hat = x[sl], seed_hat[sl]
        theta_hat = self.model(x[..., : draw_window(self.encoder.config.windows, cfg.seed, step)])
        self.opt.zero_grad(set_to_none=True)
        if cfg.loss == "ploss":
            n = max(0, min(self.n_syn - sl.start, sl.stop - sl.start))
            if theta is None or n == 0:
                raise ValueError("loss='ploss' needs synthetic rows on every rank (real_per_batch < batch)")
            value = self.loss(theta_hat[:n], theta[sl][:n])
        else:
            value = self.loss(self.synth(theta_hat, seed_hat), x)
        value.backward()
        if cfg.loss == "scrapl":
            self._check_same_paths()
        if cfg.pathwise:
            self.loss.transform_grads()
        self.opt.step()
        self.sched.step()
        if self.ema is not None:
            self.ema.update(self.encoder)
        # global-batch means for the log: [loss·rows, rows, Σ|θ̂-θ| of synthetic rows, their element count]
        n_rows = max(0, min(self.n_syn, sl.stop) - sl.start) if theta is not None else 0
        l1 = (
            (theta_hat[:n_rows].detach() - theta[sl][:n_rows]).abs().sum()
            if n_rows
            else theta_hat.new_zeros(())
        )
        stats = torch.stack(
            [
                value.detach() * x.shape[0],
                theta_hat.new_tensor(x.shape[0]),
                l1,
                theta_hat.new_tensor(n_rows * theta_hat.shape[1]),
            ]
        ).double()
        if self.world > 1:
            torch.distributed.all_reduce(stats)
        out = {"loss": float(stats[0] / stats[1]), "lr": self.sched.get_last_lr()[0]}
        if cfg.loss == "scrapl":
            out["path"] = self.loss.curr_path_idx
        if stats[3] > 0:
            out["theta_l1"] = float(stats[2] / stats[3]) * 1000
        return out

    def _check_same_paths(self) -> None:
        """Under DDP, every rank must have drawn the same SCRAPL path(s); raise RuntimeError otherwise."""
        if self.world == 1:
            return
        mine = torch.tensor(self.loss.curr_path_indices, dtype=torch.int64, device=self.device)
        every = [torch.empty_like(mine) for _ in range(self.world)]
        torch.distributed.all_gather(every, mine)
        if any(not torch.equal(mine, other) for other in every):
            raise RuntimeError(f"SCRAPL paths differ across ranks: {[e.tolist() for e in every]}")

    def validate(self) -> dict[str, float]:
        """:meth:`measure` of the weights ``best.pt`` would hold: the moving average with ``ema_decay``,
        whose raw counterparts are added as ``val_raw_theta_l1`` / ``val_raw_loss``; else the raw weights."""
        if self.ema is None:
            return self.measure()
        raw = self.measure()
        with self.ema.applied(self.encoder):
            out = self.measure()
        out.update({f"val_raw_{k[4:]}": v for k, v in raw.items() if k in ("val_theta_l1", "val_loss")})
        return out

    @torch.no_grad()
    def measure(self) -> dict[str, float]:
        """Deterministic validation of the encoder's current weights: ``val_theta_l1`` (‰, synthetic val
        items, with one ``val_theta_l1_<param>`` per synth parameter) and/or ``val_loss`` (real items).

        The ``val_items`` items are spread evenly over the split (``spread_indices``): the granular split is
        pair-major, so its first items would cover only the lowest densities.
        """
        from scrapl_live.train.evaluate import spread_indices
        from scrapl_live.train.metrics import theta_l1_permille

        self.encoder.eval()
        self.loss.eval()
        out: dict[str, float] = {}
        bs = self.cfg.batch
        if self.syn_val is not None:
            idx = spread_indices(len(self.syn_val), self.cfg.val_items)
            n = len(idx)
            errs, windows = [], self.encoder.config.windows  # a multi-window encoder: each window, mean
            for i in range(0, n, bs):
                rows = idx[i : i + bs]
                theta, seed = self.syn_val.theta[rows].to(self.device), self.syn_val.seed[rows]
                x = self.synth(theta, seed)
                errs.append(torch.stack([theta_l1_permille(self.encoder(x[..., :w]), theta) for w in windows])
                            * theta.shape[0])
            per_window = torch.stack(errs).sum(0) / n  # (n_windows, U)
            per = per_window.mean(0)
            out["val_theta_l1"] = float(per.mean())
            if len(windows) > 1:
                out.update({f"val_theta_l1_w{w}": float(v.mean()) for w, v in zip(windows, per_window,
                                                                                     strict=True)})
            out.update(
                {
                    f"val_theta_l1_{name}": float(v)
                    for name, v in zip(self.synth.param_names, per, strict=True)
                }
            )
        if self.real_val is not None and self.cfg.loss != "ploss":
            idx = spread_indices(len(self.real_val), self.cfg.val_items)
            n = len(idx)
            total = 0.0
            for i in range(0, n, bs):
                x = self.real_val.audio[idx[i : i + bs], None].to(self.device)
                x_hat = self.synth(self.encoder(x[..., : self.window]), idx[i : i + bs])
                total += float(self.loss(x_hat, x)) * x.shape[0]
            out["val_loss"] = total / n
        return out

    @property
    def selection_metric(self) -> str:
        return "val_theta_l1" if self.syn_val is not None else "val_loss"

    # Checkpoints ----------------------------------------------------------------------------------
    def state(self, full: bool = True) -> dict[str, Any]:
        """Checkpoint dict (see :mod:`scrapl_live.train.checkpoint`). ``full=False`` leaves out what only
        resuming needs (optimiser, scheduler, SCRAPL state with its P×|w| path tables, RNG): ``best.pt``."""
        from scrapl_live.encoder.encoder import encoder_checkpoint

        card = {
            "training": {
                "command": self.command, "config": self.cfg.to_dict(), "steps": self.step,
                "git_commit": self._git_commit,
            },
            "metrics": {k: v for k, v in (self.best or {}).items() if k.startswith("val_")},
        }
        if self.init_training is not None:  # the warm start's own training facts (e.g. stage A's command)
            card["training"]["init"] = {"checkpoint": self.cfg.init, **self.init_training}
        ema = self.ema
        averaged = ema is not None and not full  # best.pt: the validated (averaged) weights
        if averaged:
            card["training"]["weights"] = f"moving average (decay {ema.decay}) from step {ema.start}"
        out = {
            **encoder_checkpoint(self.encoder, card),
            "train_config": self.cfg.to_dict(),
            "step": self.step,
            "epoch": self.step // self.epoch_steps,
            "history": self.history,
            "best": self.best,
        }
        if averaged:
            out["encoder_state"] = {k: v.detach().cpu().clone() for k, v in ema.shadow.items()}
        elif ema is not None:  # last.pt: raw weights to train on, and the average
            out["ema"] = ema.state_dict()
        if full:
            out.update(
                optimizer=self.opt.state_dict(),
                scheduler=self.sched.state_dict(),
                loss_state=self.loss.state_dict(),
                rng=ckpt_io.rng_state(),
            )
        return out

    def load(self, ckpt: dict[str, Any]) -> None:
        """Restore everything :meth:`state` saved (the config must match except ``max_steps``, and an
        ``ema_decay`` may be set on a run that had none: the average starts at the resumed weights; fields
        added since the checkpoint was written, such as ``init``, take their defaults)."""
        removed = removed_features(ckpt["train_config"])
        if removed:
            raise ValueError(f"checkpoint was trained with removed features {removed}: it cannot be resumed "
                             "(start a new run, or --init from it)")
        saved_cfg = TrainConfig.from_dict(ckpt["train_config"]).to_dict()
        saved = dict(saved_cfg, max_steps=self.cfg.max_steps, out_dir=self.cfg.out_dir)
        if saved["ema_decay"] is None:  # the average may start on resume
            saved["ema_decay"] = self.cfg.ema_decay
        if saved != self.cfg.to_dict():
            diff = sorted(k for k in saved if saved[k] != self.cfg.to_dict().get(k))
            raise ValueError(f"checkpoint was trained with a different config (fields {diff})")
        self.encoder.load_state_dict(ckpt["encoder_state"])
        self.opt.load_state_dict(ckpt["optimizer"])
        self.sched.load_state_dict(ckpt["scheduler"])
        self.sched.total_iters = self.cfg.max_steps
        self.loss.load_state_dict(ckpt["loss_state"])
        ckpt_io.set_rng_state(ckpt["rng"])
        self.step, self.history, self.best = int(ckpt["step"]), list(ckpt["history"]), ckpt["best"]
        if self.ema is not None and "ema" in ckpt:
            self.ema.load_state_dict(ckpt["ema"])
        elif self.ema is not None:
            self.ema = WeightEMA(self.encoder, self.ema.decay, step=self.step)
            log.info("weight average (decay %s) starts at the resumed step %d", self.ema.decay, self.step)

    # Loop -----------------------------------------------------------------------------------------
    def fit(
        self,
        resume: bool = True,
        progress: bool = True,
        stop_at: int | None = None,
        time_limit: float | None = None,
    ) -> dict[str, Any]:
        """Train to ``cfg.max_steps``, or pause (saving ``last.pt``) at ``stop_at`` or at the first step that
        ends ``time_limit`` seconds after the loop began; validate and checkpoint every ``epoch_steps``.
        ``train.csv``'s ``wall_s`` is the seconds since this process's loop began. Returns the best
        validation record."""
        from tqdm import tqdm

        if time_limit is not None and not time_limit > 0:
            raise ValueError(f"time_limit must be > 0 seconds, got {time_limit}")
        last = self.out / "last.pt"
        if resume and last.is_file():
            try:
                self.load(ckpt_io.load_checkpoint(last))
            except ValueError as exc:  # name the file, and the ways out
                raise ValueError(f"{last}: {exc}; pass --restart to start over in that folder, or another "
                                 "--out-dir") from None
            log.info("resumed %s at step %d", last, self.step)
        elif self.cfg.theta_is:
            self._theta_is()
        end = self.cfg.max_steps if stop_at is None else min(stop_at, self.cfg.max_steps)
        main = self.rank == 0
        self._logs = RunLogs(self.out, self.step) if main else None
        bar = tqdm(total=self.cfg.max_steps, initial=self.step, disable=not (progress and main), desc="train")
        t0 = time.monotonic()
        try:
            while self.step < end:
                rec = self.train_step(self.step)
                if not math.isfinite(rec["loss"]):
                    raise RuntimeError(f"training loss is {rec['loss']} at step {self.step}")
                self.step += 1
                wall = time.monotonic() - t0
                if time_limit is not None and self._all_agree(wall >= time_limit):
                    end = self.step
                bar.update(1)
                bar.set_postfix({k: f"{v:.4g}" for k, v in rec.items() if k != "lr"})
                if main:
                    self._logs.append({"step": self.step, **rec, "wall_s": round(wall, 3)}, "train")
                if self.step % self.epoch_steps == 0 or self.step == self.cfg.max_steps:
                    self._end_epoch()
                elif self.step == end and main:
                    ckpt_io.save_checkpoint(last, self.state())
        finally:  # flush what was logged, also when a step fails
            bar.close()
            if main:
                self._logs.close()
        if self.step < self.cfg.max_steps and main:
            log.info("paused at step %d of %d (resume with the same command)", self.step, self.cfg.max_steps)
        return self.best or {}

    def _theta_is(self) -> None:
        """θ-IS warm-up on the first ``theta_is_batches`` training batches, x̂ with seeds of (run seed)."""
        gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 0, 3))
        seed_hat = torch.randint(0, 2**31 - 1, (self.cfg.batch,), generator=gen)
        theta_is_warmup(
            self.loss, self.encoder, self.window,
            synth_fn=lambda theta: self.synth(theta, seed_hat[: theta.shape[0]]),
            batches=[self._targets(b)[0] for b in range(self.cfg.theta_is_batches)],
            save_dir=self.out / "theta_is", n_iter=self.cfg.theta_is_iters, seed=self.cfg.seed,
        )

    def _all_agree(self, flag: bool) -> bool:
        """``flag`` of rank 0 on every rank (so that all ranks pause at the same step under DDP)."""
        if self.world == 1:
            return flag
        t = torch.tensor([int(flag)], device=self.device)
        torch.distributed.broadcast(t, src=0)
        return bool(t.item())

    def _end_epoch(self) -> None:
        """Validate (rank 0), update the best record, write last.pt / best.pt and the PNG curves."""
        if self.rank != 0:
            return
        rec = {"step": self.step, **self.validate()}
        self.history.append(rec)
        self._logs.append(rec, "val")
        key = self.selection_metric
        improved = key in rec and (self.best is None or rec[key] < self.best[key])
        if improved:
            self.best = dict(rec)
        shown = {k: round(v, 4) for k, v in rec.items()}
        log.info("step %d: %s%s", self.step, shown, " (best)" if improved else "")
        ckpt_io.save_checkpoint(self.out / "last.pt", self.state())
        if improved:
            ckpt_io.save_checkpoint(self.out / "best.pt", self.state(full=False))
        plot_curves(
            self._logs.train_csv.rows,
            self._logs.val_csv.rows,
            self.out / "curves.png",
            f"{self.cfg.synth} / {self.cfg.loss}",
        )
