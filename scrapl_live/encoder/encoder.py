"""The sound-matching encoder: CQT front-end + Spectral2DCNN, audio window (B, W) → θ̂ (B, U) in (0, 1).

Also the checkpoint contract shared with the trainer: a ``torch.save``d dict holding at least
``{"encoder_config": EncoderConfig.to_dict(), "encoder_state": state_dict, "card": {...}}``
(other keys, e.g. optimiser state, are ignored here).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import torch
from torch import nn

from scrapl_live.encoder.cnn import Spectral2DCNN
from scrapl_live.encoder.frontend import CQTFrontEnd
from scrapl_live.encoder.presets import EncoderConfig

log = logging.getLogger(__name__)


class Encoder(nn.Module):
    """Front-end + CNN built from an :class:`EncoderConfig`; ``forward(audio) -> θ̂``."""

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.frontend = CQTFrontEnd(config.cqt)
        self.cnn = Spectral2DCNN(config.cnn, config.cqt.n_bins, config.n_frames)

    @property
    def n_weights(self) -> int:
        """Number of trainable scalars."""
        return sum(p.numel() for p in self.parameters())

    @property
    def length_rule(self) -> str:
        """The input lengths this encoder takes, in words (for error messages)."""
        w = self.config.windows
        return f"{w[0]} <= N <= {w[-1]}" if self.config.multi_window else f"N = {self.config.window}"

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N) or (B, 1, N) → θ̂ (B, U) in (0, 1); N = ``config.window``, or for a multi-window
        encoder any length in ``[config.windows[0], config.windows[-1]]``."""
        if audio.ndim == 3:
            if audio.shape[1] != 1:
                raise ValueError(f"audio must be mono (B, 1, W), got shape {tuple(audio.shape)}")
            audio = audio[:, 0]
        exporting = torch.compiler.is_exporting()  # the length bound would become a graph guard
        if audio.ndim != 2 or not (exporting or self.config.accepts(audio.shape[-1])):
            raise ValueError(f"audio must have shape (B, N) or (B, 1, N) with {self.length_rule}, "
                             f"got {tuple(audio.shape)}")
        if not audio.is_floating_point():
            raise ValueError(f"audio must be a floating-point tensor, got {audio.dtype}")
        if not exporting and not torch.isfinite(audio).all():
            raise ValueError("audio contains NaN or inf")
        return self.cnn(self.frontend(audio))


def encoder_checkpoint(encoder: Encoder, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """The three checkpoint keys :func:`encoder_from_checkpoint` reads (merge into a bigger checkpoint)."""
    return {
        "encoder_config": encoder.config.to_dict(),
        "encoder_state": {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
        "card": dict(card or {}),
    }


def encoder_from_checkpoint(path: str | Path) -> tuple[Encoder, dict[str, Any]]:
    """Load ``(encoder in eval mode, card dict)`` from a checkpoint holding :func:`encoder_checkpoint`'s keys.

    The file is a ``torch.save``d dict with keys ``encoder_config`` (``EncoderConfig.to_dict()``),
    ``encoder_state`` (``Encoder.state_dict()``) and ``card`` (training facts for the model card:
    data, metrics, command, git commit, param specs); this is the contract with the trainer.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt files
        raise ValueError(f"checkpoint {path} is not a readable torch file: {exc}") from exc
    missing = [k for k in ("encoder_config", "encoder_state") if not isinstance(ckpt, dict) or k not in ckpt]
    if missing:
        raise ValueError(
            f"checkpoint {path} lacks {missing} (expected keys encoder_config, encoder_state, card)"
        )
    encoder = Encoder(EncoderConfig.from_dict(ckpt["encoder_config"]))
    try:
        encoder.load_state_dict(ckpt["encoder_state"])
    except RuntimeError as exc:
        raise ValueError(f"checkpoint {path}: encoder_state does not fit encoder_config: {exc}") from exc
    log.info(
        "loaded %s encoder (%s, W=%d) from %s",
        encoder.config.synth,
        encoder.config.size,
        encoder.config.window,
        path,
    )
    return encoder.eval(), dict(ckpt.get("card") or {})
