"""Training configuration: one dataclass, the paper's per-synth defaults, JSON round trip.

Defaults follow the paper's training set-up (batch size, learning rate, SCRAPL JTFS settings per
synth; docs/method.md#scrapl-path-sampling) except where docs/results.md measured better at our budget
(``paths_per_step`` = 4); the ``live`` encoder size and ``max_steps`` make a run fit a CPU budget.  The
whole config is stored in every checkpoint, so a run resumes (and a model card reports) exactly what
was trained; :meth:`TrainConfig.from_dict` also reads configs written before features were removed.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from typing import Any

log = logging.getLogger(__name__)

SYNTHS = ("granular", "chirplet", "tr808")
LOSSES = ("scrapl", "jtfs", "mss-lin", "mss-loglin", "mss-rev", "mss-rand", "ploss")
SIZES = ("live", "paper")
SAMPLINGS = ("uniform", "log")

# SCRAPL / JTFS settings per synth (the paper's loss configurations): P = 315 for the textures, 483 for tr808.
JTFS_PRESETS: dict[str, dict[str, Any]] = {
    "granular": dict(J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8, use_rho_log1p=False, grad_mult=1e8),
    "chirplet": dict(J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8, use_rho_log1p=False, grad_mult=1e8),
    "tr808": dict(J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1, use_rho_log1p=True, grad_mult=1.0),
}
# The paper's batch sizes and learning rates.
PAPER_BATCH = {"granular": 32, "chirplet": 32, "tr808": 8}
PAPER_LR = {"granular": 1e-5, "chirplet": 1e-4, "tr808": 1e-4}


@dataclass
class TrainConfig:
    """Everything that defines a training run (CLI flags map 1:1 onto fields)."""

    synth: str = "granular"
    loss: str = "scrapl"
    size: str = "live"
    out_dir: str = "runs/default"
    seed: int = 0
    batch_size: int | None = None  # None -> paper batch size of the synth
    lr: float | None = None  # None -> paper learning rate of the synth
    weight_decay: float = 0.01
    lr_end_factor: float = 0.1  # LinearLR ×1.0 -> ×lr_end_factor over max_steps
    max_steps: int = 1000
    epoch_steps: int | None = None  # steps between validation + checkpoint; None -> one pass over the data
    p_adam: bool = True  # SCRAPL only; with P-Adam or P-SAGA the optimizer is SGD, else AdamW
    p_saga: bool = True
    theta_is: bool = False
    theta_is_batches: int = 1  # θ-IS warm-up: batches of batch_size examples
    theta_is_iters: int = 20
    paths_per_step: int = 4  # SCRAPL: distinct paths per step (4 measured best on granular)
    log1p_eps: float | None = None  # knee of ρ = log1p(S/eps) where the preset uses it (None: 1e-3)
    eval_paths: int = 8  # SCRAPL deterministic eval mode: this many fixed paths
    synthetic_items: int = 4096  # tr808: synthetic θ draws in the train split (val/test: a quarter each)
    sampling: str = "log"  # tr808 θ sampling: uniform | log
    data: str | None = None  # folder of real one-shots (train split of it is used)
    real_per_batch: int = 0  # items of each batch taken from ``data`` (rest synthetic)
    max_shift: int = 2048  # meso delay of real one-shots in training (samples)
    max_files: int | None = None
    val_items: int = 256  # validation subset size (deterministic: spread evenly over the split)
    dropout: float | None = None  # override the preset encoder dropout (None: preset)
    window: int | None = None  # encoder analysis window (None: preset)
    windows: str | None = None  # "128,256,...,8192": one multi-window encoder, random lengths in training
    init: str | None = None  # checkpoint whose encoder weights start the run (warm start; fresh optimiser)
    ema_decay: float | None = None  # average the encoder weights (train/ema.py); best.pt holds the average
    teacher: str | None = None  # checkpoint whose θ̂ on the whole hit is the θ target of real items (distill)

    def __post_init__(self) -> None:
        for name, allowed in (("synth", SYNTHS), ("loss", LOSSES), ("size", SIZES), ("sampling", SAMPLINGS)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        counts = ("max_steps", "paths_per_step", "eval_paths", "synthetic_items", "val_items")
        for name in counts:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.lr is not None and not self.lr > 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if not 0 < self.lr_end_factor <= 1:
            raise ValueError(f"lr_end_factor must be in (0, 1], got {self.lr_end_factor}")
        if self.ema_decay is not None and not 0 < self.ema_decay < 1:
            raise ValueError(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if self.real_per_batch and self.data is None:
            raise ValueError("real_per_batch > 0 needs data (a folder of one-shots)")
        if not 0 <= self.real_per_batch <= self.batch:
            raise ValueError(
                f"real_per_batch must be in [0, batch_size={self.batch}], got {self.real_per_batch}"
            )
        if self.log1p_eps is not None:
            if not self.log1p_eps > 0:
                raise ValueError(f"log1p_eps must be > 0, got {self.log1p_eps}")
            if self.loss not in ("scrapl", "jtfs") or not JTFS_PRESETS[self.synth]["use_rho_log1p"]:
                raise ValueError(
                    f"log1p_eps sets the knee of the JTFS losses' log1p, which synth={self.synth!r} with "
                    f"loss={self.loss!r} does not use (tr808 with scrapl or jtfs)"
                )
        if self.theta_is and self.loss != "scrapl":
            raise ValueError("theta_is needs loss='scrapl'")
        if self.teacher is not None and (self.loss != "ploss" or not self.real_per_batch):
            raise ValueError(
                "teacher (distillation) needs loss='ploss' and real_per_batch > 0 (its θ̂ on the real items "
                f"is their parameter-loss target), got loss={self.loss!r}, "
                f"real_per_batch={self.real_per_batch}"
            )
        if self.synth != "tr808" and self.data is not None:
            raise ValueError(f"data (real one-shots) is only supported for synth='tr808', got {self.synth!r}")

    @property
    def batch(self) -> int:
        """Effective global batch size."""
        return self.batch_size if self.batch_size is not None else PAPER_BATCH[self.synth]

    @property
    def learning_rate(self) -> float:
        """Effective base learning rate."""
        return self.lr if self.lr is not None else PAPER_LR[self.synth]

    @property
    def jtfs_settings(self) -> dict[str, Any]:
        """The run's SCRAPL/JTFS loss settings: the synth's preset with the ``log1p_eps`` override."""
        settings = dict(JTFS_PRESETS[self.synth])
        if self.log1p_eps is not None:
            settings["log1p_eps"] = self.log1p_eps
        return settings

    @property
    def jtfs_distance_settings(self) -> dict[str, Any]:
        """:attr:`jtfs_settings` less SCRAPL's gradient multiplier: for JTFS distances (full-JTFS loss,
        landscapes) whose gradients are not P-Adam-normalised."""
        return {k: v for k, v in self.jtfs_settings.items() if k != "grad_mult"}

    @property
    def synth_options(self) -> dict[str, Any]:
        """Synth constructor options: tr808 renders aligned at sample 0 (no pre-delay, no internal shift),
        as in live playback; the meso misalignment comes from the real targets' random delays."""
        return {"pre_delay": 0, "max_shift": 0} if self.synth == "tr808" else {}

    @property
    def pathwise(self) -> bool:
        """True when P-Adam or P-SAGA rewrite the gradients (SCRAPL only) -> SGD optimizer."""
        return self.loss == "scrapl" and (self.p_adam or self.p_saga)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (JSON-serialisable)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainConfig:
        """Inverse of :meth:`to_dict`, also for configs of older checkpoints: keys of removed features
        are dropped (a warning names those that were switched on, see :func:`removed_features`), fields
        added since take their defaults, and a field whose default changed takes the value it had when
        the field was missing.  Unknown keys raise ValueError."""
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names - set(REMOVED_FIELDS)
        if unknown:
            raise ValueError(f"unknown training config keys: {sorted(unknown)}")
        used = removed_features(d)
        if used:
            log.warning("config uses removed features %s: read without them", used)
        kept = {k: v for k, v in d.items() if k in names}
        return cls(**{**{k: v for k, v in LEGACY_DEFAULTS.items() if k not in d}, **kept})


# Fields of features measured not to help and removed, with the value that meant "off".
REMOVED_FIELDS: dict[str, Any] = {
    "vote_is": False, "vote_is_items": 32, "balance_paths": False, "lean": False, "theta_grad_norm": False,
}
# Fields added after runs were named by their config hash (cli.run_dir_for): left out of the hash at
# their default, so such a run keeps its folder.
ADDED_FIELDS: dict[str, Any] = {"teacher": None}
# Fields whose default changed: the value a config that lacks the key was trained with.
LEGACY_DEFAULTS: dict[str, Any] = {"paths_per_step": 1}


def removed_features(d: dict[str, Any]) -> list[str]:
    """Removed features a stored config switched on (a run that used one cannot be resumed as it was)."""
    return sorted(k for k, off in REMOVED_FIELDS.items() if k in d and d[k] != off and k != "vote_is_items")
