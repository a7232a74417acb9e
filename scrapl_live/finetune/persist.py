"""Fine-tune files: atomic JSON, durable checkpoints with a kept predecessor, start weights.

The previous ``last.pt`` is renamed to ``prev.pt``, then the new one is written with
:func:`scrapl_live.atomic.write_atomic` (temp, fsync, rename, folder fsync). A ``kill -9`` at any
moment therefore leaves ``last.pt`` or (between the rename and the write) ``prev.pt`` complete,
and :func:`load_last_checkpoint` takes the newest readable one. The format is the trainer's
(:mod:`scrapl_live.train.checkpoint`).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch

from scrapl_live.atomic import write_atomic
from scrapl_live.train import checkpoint as ckpt_io

log = logging.getLogger(__name__)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Readers see the old or the new JSON, never a torn one."""
    text = json.dumps(obj, indent=1, allow_nan=False).encode()
    write_atomic(path, lambda f: f.write(text))


def save_checkpoint_durable(ckpt_dir: Path, ckpt: dict[str, Any]) -> Path:
    """Write ``last.pt`` durably; the old ``last.pt`` becomes ``prev.pt`` first."""
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    for stale in ckpt_dir.glob(".last.pt.*.tmp"):  # a writer killed mid-checkpoint (one worker per dir)
        stale.unlink(missing_ok=True)
    last = ckpt_dir / "last.pt"
    if last.exists():
        os.replace(last, ckpt_dir / "prev.pt")
    return write_atomic(last, lambda f: torch.save(ckpt, f))


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
