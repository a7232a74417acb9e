"""Checkpoints: one dict per file, written atomically, readable by the encoder's loader.

Format (``torch.save`` of a dict):
``encoder_config`` (EncoderConfig.to_dict()), ``encoder_state`` (state_dict), ``card`` (model-card
fields: synth, training command, data, metrics), ``train_config`` (TrainConfig.to_dict()),
``optimizer``, ``scheduler``, ``loss_state`` (SCRAPL sampler counters + P-Adam/P-SAGA tables),
``step``, ``epoch``, ``rng`` (torch CPU RNG state), ``history`` (list of per-epoch metric dicts),
``best`` (the best validation record), ``ema`` (with ``--ema-decay``: the weight average's state,
train/ema.py). ``last.pt`` holds everything (exact resume; its ``encoder_state`` is the raw weights);
``best.pt`` leaves out optimiser, scheduler, loss state, EMA and RNG (see ``Trainer.state(full=False)``)
and holds the validated weights (the average with ``--ema-decay``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from scrapl_live.atomic import write_atomic

REQUIRED_KEYS = ("encoder_config", "encoder_state", "card", "train_config", "step")


def save_checkpoint(path: str | Path, ckpt: dict[str, Any]) -> Path:
    """Write ``ckpt`` to ``path`` crash-safely (:func:`scrapl_live.atomic.write_atomic`)."""
    missing = [k for k in REQUIRED_KEYS if k not in ckpt]
    if missing:
        raise ValueError(f"ckpt is missing keys {missing}")
    return write_atomic(path, lambda f: torch.save(ckpt, f))


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (CPU tensors); FileNotFoundError/ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises several types for corrupt archives
        raise ValueError(f"checkpoint {path} is unreadable: {exc}") from exc
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED_KEYS):
        raise ValueError(f"checkpoint {path} is not a scrapl-live training checkpoint")
    return ckpt


def rng_state() -> dict[str, Any]:
    """Global RNG states that a training step consumes (torch CPU; CUDA when present)."""
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore states captured by :func:`rng_state`."""
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def git_commit() -> str | None:
    """Commit hash of the source tree this package runs from (for model cards), or None outside a git
    checkout (e.g. an installed wheel or a ``git archive`` snapshot)."""
    import subprocess

    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent, capture_output=True,
            text=True, timeout=10, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None
