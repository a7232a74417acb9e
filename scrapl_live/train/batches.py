"""A run's datasets and the global batch of each step: synthetic θ draws rendered on the fly and real
one-shots, each in its own deterministic :class:`BatchStream` (so a step's batch is a function of
(run seed, step), as exact resume and DDP need)."""

from __future__ import annotations

import torch
from torch import nn

from scrapl_live.train.config import TrainConfig
from scrapl_live.train.data import BatchStream, rank_slice, real_dataset, synthetic_dataset


class RunData:
    """Train/val splits of the synthetic draws (``batch - real_per_batch`` rows per batch, first) and of
    the real one-shots of ``cfg.data`` (``real_per_batch`` rows, last)."""

    def __init__(self, cfg: TrainConfig, synth: nn.Module, device: torch.device, rank: int = 0,
                 world: int = 1) -> None:
        sr, n = synth.sample_rate, synth.n_samples
        self.synth, self.device = synth, device
        self.n_real = cfg.real_per_batch
        self.n_syn = cfg.batch - self.n_real
        self.syn_train = synthetic_dataset(cfg, "train", synth.params) if self.n_syn else None
        self.syn_val = synthetic_dataset(cfg, "val", synth.params) if self.n_syn else None
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
        rank_slice(cfg.batch, rank, world)  # validates divisibility early
        # θ targets of the real train / val items (M, U), a teacher's θ̂ (train/distill.py); None: none
        self.real_theta: torch.Tensor | None = None
        self.real_val_theta: torch.Tensor | None = None

    @property
    def n_theta_rows(self) -> int:
        """Leading rows of every global batch that have θ targets (synthetic, then real ones with targets)."""
        return self.n_syn + (self.n_real if self.real_theta is not None else 0)

    def targets(self, step: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Global batch of ``step``: target audio (B, 1, N) and the θ targets of its first
        :attr:`n_theta_rows` rows (n_theta_rows, U), or None when no row has one."""
        parts, thetas = [], []
        if self.syn_stream is not None:
            idx = self.syn_stream.indices(step)
            theta, seed = self.syn_train.theta[idx], self.syn_train.seed[idx]
            with torch.no_grad():
                parts.append(self.synth(theta.to(self.device), seed))
            thetas.append(theta.to(self.device))
        if self.real_stream is not None:
            self.real_train.set_epoch(self.real_stream.cycle(step))
            idx = self.real_stream.indices(step)
            parts.append(torch.stack([self.real_train[int(i)]["audio"] for i in idx]).to(self.device))
            if self.real_theta is not None:
                thetas.append(self.real_theta[idx].to(self.device))
        return torch.cat(parts), (torch.cat(thetas) if thetas else None)
