"""Deterministic validation of a run's encoder: θ L1 on synthetic val draws (per window of a multi-window
encoder), the training loss on real val one-shots, or with a teacher (train/distill.py) the θ L1 from its
θ̂ on them, and the selection metric that picks ``best.pt``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn

from scrapl_live.train.batches import RunData
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.ema import WeightEMA

if TYPE_CHECKING:
    from collections.abc import Iterable

    from scrapl_live.encoder.encoder import Encoder


class Validator:
    """Measures an encoder on the val splits of ``data`` with the run's ``loss`` (eval mode)."""

    def __init__(self, cfg: TrainConfig, synth: nn.Module, loss: nn.Module, data: RunData,
                 device: torch.device) -> None:
        self.cfg, self.synth, self.loss, self.data, self.device = cfg, synth, loss, data, device

    @property
    def selection_metric(self) -> str:
        """The validation key whose minimum is ``best.pt``: with a teacher the real val items' θ L1 from its
        θ̂ (what distillation is for), else the synthetic θ L1, else the loss on real items."""
        if self.data.real_val_theta is not None:
            return "val_teacher_l1"
        return "val_theta_l1" if self.data.syn_val is not None else "val_loss"

    def validate(self, encoder: Encoder, ema: WeightEMA | None) -> dict[str, float]:
        """:meth:`measure` of the weights ``best.pt`` would hold: the moving average with ``ema``, whose
        raw counterparts are added as ``val_raw_theta_l1`` / ``val_raw_loss``; else the raw weights."""
        if ema is None:
            return self.measure(encoder)
        raw = self.measure(encoder)
        with ema.applied(encoder):
            out = self.measure(encoder)
        kept = ("val_theta_l1", "val_teacher_l1", "val_loss")
        out.update({f"val_raw_{k[4:]}": v for k, v in raw.items() if k in kept})
        return out

    @torch.no_grad()
    def measure(self, encoder: Encoder) -> dict[str, float]:
        """Deterministic validation of ``encoder``'s current weights: ``val_theta_l1`` (‰, synthetic val
        items, with one ``val_theta_l1_<param>`` per synth parameter) and/or, on the real items, ``val_loss``
        or with a teacher ``val_teacher_l1`` (‰ from its θ̂). A multi-window encoder is measured at each
        window (``..._w<W>``) and the mean reported.

        The ``val_items`` items are spread evenly over the split (``spread_indices``): the granular split is
        pair-major, so its first items would cover only the lowest densities.
        """
        from scrapl_live.train.evaluate import spread_indices

        encoder.eval()
        self.loss.eval()
        out: dict[str, float] = {}
        bs, syn_val, real_val = self.cfg.batch, self.data.syn_val, self.data.real_val
        if syn_val is not None:
            idx = spread_indices(len(syn_val), self.cfg.val_items)
            chunks = ((self.synth(syn_val.theta[r].to(self.device), syn_val.seed[r]), syn_val.theta[r])
                      for r in (idx[i : i + bs] for i in range(0, len(idx), bs)))
            per = self._window_l1(encoder, chunks, "val_theta_l1", out)
            out.update(
                {
                    f"val_theta_l1_{name}": float(v)
                    for name, v in zip(self.synth.param_names, per, strict=True)
                }
            )
        if real_val is not None and self.data.real_val_theta is not None:
            idx = spread_indices(len(real_val), self.cfg.val_items)
            chunks = ((real_val.audio[r, None], self.data.real_val_theta[r])
                      for r in (idx[i : i + bs] for i in range(0, len(idx), bs)))
            self._window_l1(encoder, chunks, "val_teacher_l1", out)
        if real_val is not None and self.cfg.loss != "ploss":
            idx = spread_indices(len(real_val), self.cfg.val_items)
            n = len(idx)
            total = 0.0
            for i in range(0, n, bs):
                x = real_val.audio[idx[i : i + bs], None].to(self.device)
                x_hat = self.synth(encoder(x[..., : encoder.config.window]), idx[i : i + bs])
                total += float(self.loss(x_hat, x)) * x.shape[0]
            out["val_loss"] = total / n
        return out

    def _window_l1(self, encoder: Encoder, chunks: Iterable[tuple[torch.Tensor, torch.Tensor]], key: str,
                   out: dict[str, float]) -> torch.Tensor:
        """θ L1 (‰) of ``encoder`` on chunks of (audio (b, 1, N), θ target (b, U)) at each of its windows:
        sets ``out[key]`` (the mean over windows and parameters) and, for several windows, ``out[key_w<W>]``;
        returns the per-parameter mean over windows (U,)."""
        from scrapl_live.train.metrics import theta_l1_permille

        windows = encoder.config.windows
        errs, n = [], 0
        for x, theta in chunks:
            x, theta = x.to(self.device), theta.to(self.device)
            errs.append(torch.stack([theta_l1_permille(encoder(x[..., :w]), theta) for w in windows])
                        * theta.shape[0])
            n += theta.shape[0]
        per_window = torch.stack(errs).sum(0) / n  # (n_windows, U)
        per = per_window.mean(0)
        out[key] = float(per.mean())
        if len(windows) > 1:
            out.update({f"{key}_w{w}": float(v.mean()) for w, v in zip(windows, per_window, strict=True)})
        return per
