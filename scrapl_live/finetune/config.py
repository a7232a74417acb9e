"""What defines a background fine-tune run, and how its process yields the CPU to the audio threads."""

from __future__ import annotations

import dataclasses
import logging
import os

import torch

log = logging.getLogger(__name__)

TABLE_DTYPES = {"bfloat16": torch.bfloat16, "float32": torch.float32}


def yield_cpu(nice: int, threads: int) -> None:
    """Make this process as polite as possible to the audio threads on a shared CPU.

    ``nice`` > 0: SCHED_IDLE on Linux (the process runs only when a core has nothing else to do), else
    ``os.nice(nice)``; ``threads`` intra-op torch threads and one inter-op thread.  Call it before any
    torch work, so that every thread torch starts later inherits the policy.
    """
    if nice > 0 and hasattr(os, "SCHED_IDLE"):
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif nice > 0:
        os.nice(nice)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # only settable before the first inter-op work of the process (e.g. in tests)
        log.debug("inter-op threads already started; left at %d", torch.get_num_interop_threads())


@dataclasses.dataclass
class FinetuneConfig:
    """What defines a fine-tune run (``scrapl-live finetune run`` flags map onto the fields)."""

    model: str  # start model: .onnx (with its card) or a .pt checkpoint
    store: str  # capture store folder
    out_dir: str  # checkpoints, exported model.onnx/json, status.json, curve.png
    max_steps: int | None = None  # stop after this many steps in total (None: until stopped)
    batch_size: int = 4
    lr: float = 1e-4
    eval_every: int = 25  # steps between held-out evaluations (and possible exports)
    ckpt_every: int = 25  # steps between checkpoints (also written at every evaluation and at stop)
    rescan_every: int = 100  # steps between re-reads of the store (new captures)
    holdout_frac: float = 0.25
    min_samples: int = 4  # wait until the store holds this many usable samples
    paths_per_step: int = 1
    eval_paths: int = 16
    p_adam: bool = True
    p_saga: bool = True
    theta_is: bool = False  # θ-IS warm-up on the user's training samples before the first step
    theta_is_iters: int = 20
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    threads: int = 1  # torch threads on CPU
    nice: int = 19  # niceness increment on CPU (> 0 also selects SCHED_IDLE on Linux): audio threads win
    table_dtype: str = "bfloat16"  # P-Adam/P-SAGA path tables: bfloat16 (half the RAM/disk) or float32

    def __post_init__(self) -> None:
        if self.table_dtype not in TABLE_DTYPES:
            raise ValueError(f"table_dtype must be one of {sorted(TABLE_DTYPES)}, got {self.table_dtype!r}")
        if self.nice < 0:
            raise ValueError(f"nice must be >= 0 (an increment), got {self.nice}")
        for name in ("batch_size", "eval_every", "ckpt_every", "rescan_every", "min_samples",
                     "paths_per_step", "eval_paths", "threads", "theta_is_iters"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.min_samples < 2:
            raise ValueError(f"min_samples must be >= 2 (to train and hold out), got {self.min_samples}")
        if not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.max_steps is not None and self.max_steps < 0:
            raise ValueError(f"max_steps must be >= 0 or None, got {self.max_steps}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")

    def uses_cuda(self) -> bool:
        """Whether the run trains on the GPU (``cuda``, or ``auto`` when torch sees one)."""
        return self.device == "cuda" or (self.device == "auto" and torch.cuda.is_available())
