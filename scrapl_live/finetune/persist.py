"""Fine-tune files: atomic JSON, durable checkpoints with a kept predecessor, start weights.

A checkpoint is written to a temp file, fsynced, and renamed over ``last.pt`` after the previous
``last.pt`` was renamed to ``prev.pt``; the folder is fsynced. A ``kill -9`` at any moment therefore
leaves ``last.pt`` or (between the two renames) ``prev.pt`` complete, and :func:`load_last_checkpoint`
takes the newest readable one. The format is the trainer's (:mod:`scrapl_live.train.checkpoint`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from scrapl_live.train import checkpoint as ckpt_io

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, obj: Any) -> None:
    """temp file → fsync → rename: readers see the old or the new JSON, never a torn one."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w") as f:
        f.write(json.dumps(obj, indent=1, allow_nan=False))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def save_checkpoint_durable(ckpt_dir: Path, ckpt: dict[str, Any]) -> Path:
    """Write ``last.pt`` durably (temp, fsync, rename, folder fsync); the old ``last.pt`` → ``prev.pt``."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last, tmp = ckpt_dir / "last.pt", ckpt_dir / f".last.{os.getpid()}.tmp"
    for stale in ckpt_dir.glob(".last.*.tmp"):  # left by a writer killed mid-checkpoint (one worker per dir)
        if stale != tmp:
            stale.unlink(missing_ok=True)
    with open(tmp, "wb") as f:
        torch.save(ckpt, f)
        f.flush()
        os.fsync(f.fileno())
    if last.exists():
        os.replace(last, ckpt_dir / "prev.pt")
    os.replace(tmp, last)
    fd = os.open(ckpt_dir, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    return last


def load_last_checkpoint(ckpt_dir: Path) -> dict[str, Any] | None:
    """The newest loadable checkpoint (``last.pt``, else ``prev.pt``); None when there is none."""
    for name in ("last.pt", "prev.pt"):
        try:
            return ckpt_io.load_checkpoint(ckpt_dir / name)
        except FileNotFoundError:
            continue
        except ValueError as exc:
            log.warning("fine-tune: %s", exc)
    return None


def load_start_encoder(model: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """(Encoder, card) from an ``.onnx`` model (ONNX → torch reversal) or a ``.pt`` checkpoint."""
    path = Path(model)
    if not path.is_file():
        raise FileNotFoundError(f"model not found: {path}")
    if path.suffix == ".onnx":
        from scrapl_live.encoder.card import load_card
        from scrapl_live.encoder.export import onnx_to_torch

        return onnx_to_torch(path), load_card(path)
    from scrapl_live.encoder.encoder import encoder_from_checkpoint

    return encoder_from_checkpoint(path)
