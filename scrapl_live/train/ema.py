"""Exponential moving average of the encoder's weights (Polyak averaging), ``--ema-decay``.

SCRAPL's one-path-per-step gradient is noisy, and so are the weights it leaves: on the granular texture
the validation θ L1 of a k = 4 run wanders by ±20‰ between validations 500 steps apart even at a tenth of
the base learning rate (docs/results.md). The average of the recent weights sits nearer the
middle of that wander. It is passive — training steps see only the raw weights, so a run with an EMA
follows exactly the trajectory of the run without — and it can therefore also be switched on when
resuming a run that had none.

Update n (1-based) keeps ``min(decay, n / (n + 1))`` of the average: for the first ~1/(1 − decay)
updates it is the plain mean of every weight since its start, afterwards the exponential one, so the
starting weights fade as fast as the window allows instead of being dragged along.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn


def _state_copy(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of ``module``'s state tensors."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


class WeightEMA:
    """Shadow copy of ``module``'s state (floating tensors averaged, others copied), started at ``step``."""

    def __init__(self, module: nn.Module, decay: float, step: int = 0) -> None:
        if not 0 < decay < 1:
            raise ValueError(f"EMA decay must be in (0, 1), got {decay}")
        self.decay, self.updates, self.start = float(decay), 0, int(step)
        self.shadow = _state_copy(module)

    def rate(self, n: int) -> float:
        """Share of the average kept by the n-th update (1-based): the running mean's ``n / (n + 1)``,
        capped at ``decay``."""
        return min(self.decay, n / (n + 1))

    @torch.no_grad()
    def update(self, module: nn.Module) -> None:
        """Fold ``module``'s current state into the average (call after each optimiser step)."""
        self.updates += 1
        keep = self.rate(self.updates)
        for k, v in module.state_dict().items():
            s = self.shadow[k]
            if s.is_floating_point():
                s.lerp_(v.detach(), 1.0 - keep)
            else:
                s.copy_(v)

    @contextmanager
    def applied(self, module: nn.Module) -> Iterator[nn.Module]:
        """``module`` with the averaged weights inside the block; its own weights are restored after."""
        raw = _state_copy(module)
        module.load_state_dict(self.shadow)
        try:
            yield module
        finally:
            module.load_state_dict(raw)

    def state_dict(self) -> dict[str, Any]:
        return {"decay": self.decay, "updates": self.updates, "start": self.start, "shadow": self.shadow}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (ValueError when it was kept with another decay or other tensors)."""
        if float(state["decay"]) != self.decay:
            raise ValueError(f"EMA state has decay {state['decay']}, this run {self.decay}")
        if state["shadow"].keys() != self.shadow.keys():
            raise ValueError("EMA state holds other tensors than this encoder")
        for k, v in state["shadow"].items():
            self.shadow[k].copy_(v)
        self.updates, self.start = int(state["updates"]), int(state["start"])
