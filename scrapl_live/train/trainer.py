"""Sound-matching trainer: audio → encoder → θ̂ → synth → x̂, loss(x̂, x), optimiser step.

SCRAPL with P-Adam/P-SAGA: the gradients are rewritten optimizer-side (``SCRAPLLoss.transform_grads``)
after backward — i.e. after the DDP all-reduce — then plain SGD steps; otherwise AdamW (both built by
``train/losses.py::make_objective``, shared with the fine-tune worker). Every random
choice of step s (data order, the synth seeds of x̂, target shifts, dropout, SCRAPL's path) is a
function of (run seed, s), so a run resumed from a checkpoint continues bit-exactly and every DDP
rank draws the same path. Validation is deterministic (θ L1 on the val split, the loss in eval mode
on real one-shots, or with a teacher the θ L1 from its θ̂ on them) and picks ``best.pt``; ``last.pt``
is written after every epoch. With ``ema_decay`` the validated and ``best.pt`` weights are the moving
average (train/ema.py); the raw weights' validation is logged beside it as ``val_raw_*``.

The parts live beside it: the datasets and each step's batch in train/batches.py, validation in
train/validation.py, the checkpoint dict and its restore in train/run_state.py, the teacher's θ
targets of real one-shots (``--teacher``, distillation) in train/distill.py.
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
from scrapl_live.train.batches import RunData
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.curves import RunLogs, plot_curves
from scrapl_live.train.data import draw_window, mix_seed, parse_windows, rank_slice
from scrapl_live.train.distill import Teacher
from scrapl_live.train.ema import WeightEMA
from scrapl_live.train.losses import make_objective
from scrapl_live.train.run_state import init_weights, restore, run_state
from scrapl_live.train.validation import Validator
from scrapl_live.train.warmups import theta_is_warmup

log = logging.getLogger(__name__)


def _dist() -> tuple[int, int]:
    """(rank, world size) of an initialised torch.distributed group, else (0, 1)."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    return 0, 1


def _rows_l1(theta_hat: torch.Tensor, theta: torch.Tensor | None, sl: slice, lo: int,
             hi: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(Σ|θ̂ - θ|, element count) over global batch rows [lo, hi) that fall in this rank's slice ``sl``;
    theta_hat: (rows of sl, U), theta: targets of the global batch's first rows (or None)."""
    a, b = max(lo, sl.start), min(hi, sl.stop)
    if theta is None or b <= a:
        return theta_hat.new_zeros(()), theta_hat.new_zeros(())
    diff = theta_hat[a - sl.start : b - sl.start] - theta[a:b]
    return diff.abs().sum(), theta_hat.new_tensor(diff.numel())


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
            self.init_training = init_weights(self.encoder, cfg.init)
        self.ema = WeightEMA(self.encoder, cfg.ema_decay) if cfg.ema_decay is not None else None
        self.model: nn.Module = self.encoder
        if self.world > 1:
            self.model = nn.parallel.DistributedDataParallel(self.encoder)
        self.window = enc_cfg.window
        self.loss, self.opt = make_objective(cfg, self.synth, self.encoder.parameters(), self.device)
        self.sched = torch.optim.lr_scheduler.LinearLR(
            self.opt, start_factor=1.0, end_factor=cfg.lr_end_factor, total_iters=cfg.max_steps
        )
        self.git_commit = ckpt_io.git_commit()  # recorded in every checkpoint's card
        teacher = Teacher(cfg.teacher, cfg.synth, self.device) if cfg.teacher is not None else None
        self.data = RunData(cfg, self.synth, self.device, self.rank, self.world)
        self.teacher: dict[str, Any] | None = None  # card["training"]["teacher"] (distillation)
        if teacher is not None:
            teacher.attach(self.data, self.out, write=self.rank == 0)
            self.teacher = teacher.card()
        self.validator = Validator(cfg, self.synth, self.loss, self.data, self.device)
        self.step = 0
        self.history: list[dict[str, Any]] = []
        self.best: dict[str, Any] | None = None

    # Steps -----------------------------------------------------------------------------------------
    def train_step(self, step: int) -> dict[str, float]:
        """One optimiser step at global step ``step``; returns {"loss", "lr", "theta_l1" (‰, synthetic rows),
        "teacher_l1" (‰ from the teacher's θ̂, real rows, with a teacher)}."""
        cfg = self.cfg
        self.model.train()
        self.loss.train()
        x, theta = self.data.targets(step)
        gen = torch.Generator().manual_seed(mix_seed(cfg.seed, step, 1))
        seed_hat = torch.randint(0, 2**31 - 1, (cfg.batch,), generator=gen)
        torch.manual_seed(mix_seed(cfg.seed, step, 2, self.rank))  # dropout masks
        sl = rank_slice(cfg.batch, self.rank, self.world)
        x, seed_hat = x[sl], seed_hat[sl]
        theta_hat = self.model(x[..., : draw_window(self.encoder.config.windows, cfg.seed, step)])
        self.opt.zero_grad(set_to_none=True)
        if cfg.loss == "ploss":
            n = max(0, min(self.data.n_theta_rows - sl.start, sl.stop - sl.start))
            if theta is None or n == 0:
                raise ValueError("loss='ploss' needs θ targets on every rank: synthetic rows "
                                 "(real_per_batch < batch) or a teacher for the real ones")
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
        # global-batch means for the log: [loss·rows, rows, then Σ|θ̂-θ| and element count of the synthetic
        # rows and (with a teacher) of the real rows]
        groups = {"theta_l1": (0, self.data.n_syn)}
        if self.data.real_theta is not None:
            groups["teacher_l1"] = (self.data.n_syn, self.data.n_theta_rows)
        stats = [value.detach() * x.shape[0], theta_hat.new_tensor(x.shape[0])]
        for lo, hi in groups.values():
            stats.extend(_rows_l1(theta_hat.detach(), theta, sl, lo, hi))
        stats = torch.stack(stats).double()
        if self.world > 1:
            torch.distributed.all_reduce(stats)
        out = {"loss": float(stats[0] / stats[1]), "lr": self.sched.get_last_lr()[0]}
        if cfg.loss == "scrapl":
            out["path"] = self.loss.curr_path_idx
        for i, key in enumerate(groups):
            if stats[3 + 2 * i] > 0:
                out[key] = float(stats[2 + 2 * i] / stats[3 + 2 * i]) * 1000
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
        """Validation of the weights ``best.pt`` would hold (:meth:`Validator.validate`)."""
        return self.validator.validate(self.encoder, self.ema)

    def measure(self) -> dict[str, float]:
        """Validation of the encoder's current weights (:meth:`Validator.measure`)."""
        return self.validator.measure(self.encoder)

    # Checkpoints ----------------------------------------------------------------------------------
    def state(self, full: bool = True) -> dict[str, Any]:
        """Checkpoint dict (:func:`run_state`); ``full=False``: ``best.pt``'s, without the resume state."""
        return run_state(self, full)

    def load(self, ckpt: dict[str, Any]) -> None:
        """Restore everything :meth:`state` saved (:func:`restore`)."""
        restore(self, ckpt)

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
                if self.step % self.data.epoch_steps == 0 or self.step == self.cfg.max_steps:
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
            batches=[self.data.targets(b)[0] for b in range(self.cfg.theta_is_batches)],
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
        key = self.validator.selection_metric
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
