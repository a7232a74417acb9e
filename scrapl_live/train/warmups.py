"""The θ-IS warm-up of an encoder before SCRAPL training or fine-tuning (docs/method.md#θ-is).

One function for the trainer and the fine-tune worker: the curvature of every path's distance w.r.t.
the encoder weights, per synth parameter, sets the SCRAPL path probabilities, which become part of the
loss state (a resumed run does not repeat the warm-up).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

log = logging.getLogger(__name__)


def theta_is_warmup(
    loss: nn.Module,
    encoder: nn.Module,
    window: int,
    synth_fn: Callable[[torch.Tensor], torch.Tensor],
    batches: Sequence[torch.Tensor],
    save_dir: str | Path,
    n_iter: int,
    seed: int,
) -> None:
    """θ-IS warm-up of ``loss`` (a ``SCRAPLLoss``) for ``encoder`` on ``batches`` of target audio.

    Args:
        loss: the SCRAPL loss; attached P-Adam/P-SAGA params are detached for the warm-up (its backward
            passes must not touch their tables) and re-attached empty (optimizer-side) afterwards.
        encoder: audio (B, 1, ``window``) -> θ̂ (B, U); put in eval mode (dropout off: the warm-up must
            be deterministic).
        window: samples of each target the encoder reads (the first ``window``).
        synth_fn: θ̂ (B, U) -> x̂ (B, 1, N), deterministic (fixed synth seeds).
        batches: target audio, each (B, 1, N); the curvature operators are summed over batches.
        save_dir: per-path values ``vals_{p}.pt`` (an interrupted warm-up resumes from them).
        n_iter: power-iteration steps per path.
        seed: seeds the power iterations' start vectors.
    """
    params = list(encoder.parameters())
    attached = bool(loss.attached_params)
    if attached:
        loss.attach_params([])
    encoder.eval()
    loss.warmup_lc_hvp(
        theta_fn=lambda x: encoder(x[..., :window]),
        synth_fn=synth_fn,
        theta_fn_kwargs=[{"x": x} for x in batches],
        params=params,
        save_dir=str(save_dir),
        n_iter=n_iter,
        seed=seed,
    )
    if attached:
        loss.attach_params(params, hooks=False)
    probs = loss.probs
    log.info("θ-IS probabilities: min %.3g, max %.3g (uniform %.3g)", float(probs.min()), float(probs.max()),
             1.0 / loss.n_paths)
