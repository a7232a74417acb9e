"""Datasets for a :class:`TrainConfig` and a deterministic batch stream (exact resume, DDP sharding).

The data order is a pure function of (run seed, global step): batch s of a stream of M items with
batch size B comes from cycle c = s // (M // B) of a permutation seeded with (seed, c). Resuming at
step s therefore needs no sampler state, and every DDP rank computes the same global batch and takes
its own contiguous slice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from scrapl_live.train.config import TrainConfig
from scrapl_live.train.datasets import GridDataset, OneShotFolderDataset, SynthUniformDataset


@dataclass
class BatchStream:
    """Batches of indices into a dataset of ``n_items`` items, reshuffled every cycle.

    ``key`` separates independent streams (synthetic vs real) of the same run.
    """

    n_items: int
    batch_size: int
    seed: int
    key: int = 0

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.n_items < self.batch_size:
            raise ValueError(f"dataset has {self.n_items} items, fewer than batch_size={self.batch_size}")
        self._perm_cycle = -1
        self._perm = torch.empty(0, dtype=torch.int64)

    @property
    def batches_per_cycle(self) -> int:
        return self.n_items // self.batch_size

    def cycle(self, step: int) -> int:
        """Pass over the data that global step ``step`` belongs to."""
        return step // self.batches_per_cycle

    def indices(self, step: int) -> torch.Tensor:
        """Item indices (batch_size,) int64 of global step ``step``."""
        c, pos = divmod(step, self.batches_per_cycle)
        if c != self._perm_cycle:
            gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.key * 7919 + c)
            self._perm, self._perm_cycle = torch.randperm(self.n_items, generator=gen), c
        return self._perm[pos * self.batch_size : (pos + 1) * self.batch_size]


def mix_seed(*xs: int) -> int:
    """A 63-bit seed from integers, e.g. (run seed, step, purpose): different tuples give unrelated
    generator streams, so every random draw of a step is reproducible on its own (resume, DDP ranks)."""
    h = 0x243F6A8885A308D3
    for x in xs:
        h = ((h ^ (int(x) & 0xFFFFFFFFFFFFFFFF)) * 0x100000001B3 + 0x9E3779B97F4A7C15) & 0x7FFFFFFFFFFFFFFF
    return h


def parse_windows(text: str | None) -> tuple[int, ...] | None:
    """``"128,256,...,8192"`` → ascending window lengths (samples), None for None; ValueError otherwise."""
    if text is None:
        return None
    try:
        windows = tuple(int(w) for w in str(text).split(","))
    except ValueError:
        raise ValueError(f"windows must be comma-separated sample counts, e.g. 128,256,8192; got {text!r}") \
            from None
    if len(windows) < 2 or list(windows) != sorted(set(windows)):
        raise ValueError(f"windows must list at least two ascending sample counts, got {text!r}")
    return windows


def draw_window(windows: tuple[int, ...], seed: int, step: int) -> int:
    """Input length (samples) of training step ``step``: log-uniform in ``[windows[0], windows[-1]]``, a
    function of (seed, step) alone (exact resume); a single window is always itself."""
    lo, hi = windows[0], windows[-1]
    if lo == hi:
        return lo
    u = torch.rand((), generator=torch.Generator().manual_seed(mix_seed(seed, step, 4)), dtype=torch.float64)
    return min(hi, int(math.exp(math.log(lo) + float(u) * math.log((hi + 1) / lo))))


def rank_slice(batch_size: int, rank: int, world: int) -> slice:
    """Contiguous share of a global batch for ``rank`` of ``world`` (batch_size must divide evenly)."""
    if batch_size % world:
        raise ValueError(f"batch_size={batch_size} must be divisible by the number of processes ({world})")
    per = batch_size // world
    return slice(rank * per, (rank + 1) * per)


def synthetic_dataset(cfg: TrainConfig, split: str, params: list) -> GridDataset | SynthUniformDataset:
    """The synthetic θ set of ``split``: the paper grid (granular/chirplet) or uniform/log draws (tr808)."""
    if cfg.synth == "tr808":
        n = cfg.synthetic_items if split == "train" else max(1, cfg.synthetic_items // 4)
        return SynthUniformDataset(params, n, split, seed=cfg.seed, sampling=cfg.sampling)
    return GridDataset(split)


def real_dataset(cfg: TrainConfig, split: str, sample_rate: int, n_samples: int) -> OneShotFolderDataset:
    """The ``split`` of the one-shot folder ``cfg.data`` (shuffled with the run seed)."""
    if cfg.data is None:
        raise ValueError("data must name a folder of one-shots")
    return OneShotFolderDataset(
        cfg.data,
        sample_rate,
        n_samples,
        split,
        split_seed=cfg.seed,
        max_shift=cfg.max_shift,
        max_files=cfg.max_files,
    )
