"""Deterministic validation of a run's encoder: θ L1 on synthetic val draws (per window of a multi-window
encoder), the training loss on real val one-shots, and the selection metric that picks ``best.pt``."""

from __future__ import annotations

import torch
from torch import nn

from scrapl_live.train.batches import RunData
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.ema import WeightEMA


class Validator:
    """Measures an encoder on the val splits of ``data`` with the run's ``loss`` (eval mode)."""

    def __init__(self, cfg: TrainConfig, synth: nn.Module, loss: nn.Module, data: RunData,
                 device: torch.device) -> None:
        self.cfg, self.synth, self.loss, self.data, self.device = cfg, synth, loss, data, device

    @property
    def selection_metric(self) -> str:
        """The validation key whose minimum is ``best.pt``."""
        return "val_theta_l1" if self.data.syn_val is not None else "val_loss"

    def validate(self, encoder: nn.Module, ema: WeightEMA | None) -> dict[str, float]:
        """:meth:`measure` of the weights ``best.pt`` would hold: the moving average with ``ema``, whose
        raw counterparts are added as ``val_raw_theta_l1`` / ``val_raw_loss``; else the raw weights."""
        if ema is None:
            return self.measure(encoder)
        raw = self.measure(encoder)
        with ema.applied(encoder):
            out = self.measure(encoder)
        out.update({f"val_raw_{k[4:]}": v for k, v in raw.items() if k in ("val_theta_l1", "val_loss")})
        return out

    @torch.no_grad()
    def measure(self, encoder: nn.Module) -> dict[str, float]:
        """Deterministic validation of ``encoder``'s current weights: ``val_theta_l1`` (‰, synthetic val
        items, with one ``val_theta_l1_<param>`` per synth parameter) and/or ``val_loss`` (real items).

        The ``val_items`` items are spread evenly over the split (``spread_indices``): the granular split is
        pair-major, so its first items would cover only the lowest densities.
        """
        from scrapl_live.train.evaluate import spread_indices
        from scrapl_live.train.metrics import theta_l1_permille

        encoder.eval()
        self.loss.eval()
        out: dict[str, float] = {}
        bs, syn_val, real_val = self.cfg.batch, self.data.syn_val, self.data.real_val
        windows = encoder.config.windows  # a multi-window encoder: each window, then the mean
        if syn_val is not None:
            idx = spread_indices(len(syn_val), self.cfg.val_items)
            n = len(idx)
            errs = []
            for i in range(0, n, bs):
                rows = idx[i : i + bs]
                theta, seed = syn_val.theta[rows].to(self.device), syn_val.seed[rows]
                x = self.synth(theta, seed)
                errs.append(torch.stack([theta_l1_permille(encoder(x[..., :w]), theta) for w in windows])
                            * theta.shape[0])
            per_window = torch.stack(errs).sum(0) / n  # (n_windows, U)
            per = per_window.mean(0)
            out["val_theta_l1"] = float(per.mean())
            if len(windows) > 1:
                out.update({f"val_theta_l1_w{w}": float(v.mean()) for w, v in zip(windows, per_window,
                                                                                     strict=True)})
            out.update(
                {
                    f"val_theta_l1_{name}": float(v)
                    for name, v in zip(self.synth.param_names, per, strict=True)
                }
            )
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
