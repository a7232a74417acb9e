"""Distillation (``--teacher CKPT``): a frozen encoder that hears the whole hit supplies θ targets for the
real one-shots of a run, so that a (multi-window) student learns them from the window it is given.

The teacher is evaluated once per real item, without gradients, on the item as the dataset prepared it
(onset-aligned, peak-normalised, unshifted, its first ``windows[-1]`` samples), in fixed chunks so that
the targets do not depend on how a run is split into resumed chunks. The targets of each split are
cached in the run folder (``teacher_theta_<split>.pt``), keyed by the teacher file's SHA-256 and the
split's file list, so a resumed run reads them instead of re-running the teacher.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

import torch

from scrapl_live.train.batches import RunData
from scrapl_live.train.datasets import OneShotFolderDataset

log = logging.getLogger(__name__)

CHUNK = 16  # teacher batch (rows): fixed, so the targets are the same whatever the run's batch size


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class Teacher:
    """The encoder of checkpoint ``path`` (eval mode, frozen) for a run of synth ``synth``.

    FileNotFoundError when the file is missing, ValueError when it is no encoder checkpoint or drives
    another synth (each names the file and what to pass instead)."""

    def __init__(self, path: str, synth: str, device: torch.device) -> None:
        from scrapl_live.encoder.encoder import encoder_from_checkpoint

        file = Path(path)
        if not file.is_file():
            raise FileNotFoundError(f"--teacher {path}: no such checkpoint (pass a trained encoder's .pt, "
                                    "e.g. runs/NAME/best.pt)")
        try:
            encoder, card = encoder_from_checkpoint(file)
        except ValueError as exc:
            raise ValueError(f"--teacher {path}: {exc}") from None
        if encoder.config.synth != synth:
            raise ValueError(f"--teacher {path} is an encoder for synth {encoder.config.synth!r}, this run "
                             f"trains {synth!r}: pass a {synth} checkpoint")
        self.path, self.device = str(path), device
        self.encoder = encoder.to(device).eval().requires_grad_(False)
        self.window = encoder.config.windows[-1]
        self.sha256 = file_sha256(file)
        self.training = dict(card.get("training") or {})

    def card(self) -> dict[str, Any]:
        """What the student's model card records of its teacher: file, digest, window, training facts."""
        facts = {k: self.training[k] for k in ("command", "steps", "git_commit") if k in self.training}
        return {"checkpoint": self.path, "sha256": self.sha256, "window": self.window, **facts}

    @torch.no_grad()
    def predict(self, audio: torch.Tensor) -> torch.Tensor:
        """θ̂ (M, U) of one-shots ``audio`` (M, N) from their first ``window`` samples, ``CHUNK`` at a time."""
        rows = [self.encoder(audio[i : i + CHUNK, None, : self.window].to(self.device)).float().cpu()
                for i in range(0, audio.shape[0], CHUNK)]
        return torch.cat(rows)

    def targets(self, data: OneShotFolderDataset, cache: Path, write: bool = True) -> torch.Tensor:
        """θ̂ (M, U) of every item of ``data``: read from ``cache`` when it was written for this teacher
        file and these items, else computed (and, with ``write``, cached)."""
        from scrapl_live.atomic import write_atomic

        key = {"teacher_sha256": self.sha256, "window": self.window, "n_samples": int(data.audio.shape[1]),
               "files": [str(f) for f in data.files]}
        if cache.is_file():
            stored = torch.load(cache, map_location="cpu", weights_only=True)
            if stored.get("key") == key:
                log.info("teacher targets of %d %s items read from %s", len(data), data.split, cache)
                return stored["theta"]
        theta = self.predict(data.audio)
        log.info("teacher %s: θ̂ of %d %s items", self.path, len(data), data.split)
        if write:
            write_atomic(cache, lambda f: torch.save({"key": key, "theta": theta}, f))
        return theta

    def attach(self, data: RunData, out_dir: Path, write: bool = True) -> None:
        """Set the teacher's θ̂ as the θ targets of ``data``'s real train and val items, cached in
        ``out_dir`` (``write=False`` on DDP ranks other than 0: they read the cache but leave it alone)."""
        data.real_theta = self.targets(data.real_train, out_dir / "teacher_theta_train.pt", write)
        data.real_val_theta = self.targets(data.real_val, out_dir / "teacher_theta_val.pt", write)
