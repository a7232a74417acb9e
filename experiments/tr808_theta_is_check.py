"""Exact θ-IS curvature |λ_u| (docs/method.md#θ-is: ThetaCurvature + power iteration, 5 iterations) of the 21
tr808 paths with n_fr = 0 at the stage-A encoder, against pathsens' Gauss-Newton proxy Σ_b G[p,b,u]² on
the same 2 synthetic val draws.  ~9 min on one loaded core.  Used in docs/results.md ("tr808 decay").

Run from the repository root: ``python experiments/tr808_theta_is_check.py runs/tr808-a-ploss/best.pt``.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from pathsens import path_theta_grads
from scipy.stats import spearmanr

import synths
from scrapl_live.encoder.encoder import encoder_from_checkpoint
from scrapl_live.loss import SCRAPLLoss
from scrapl_live.loss.hvp import ThetaCurvature, power_iteration
from scrapl_live.train.config import JTFS_PRESETS
from scrapl_live.train.data import synthetic_dataset
from scrapl_live.train.evaluate import card_train_config


def main(checkpoint: str, n_items: int = 2) -> None:
    torch.set_num_threads(1)
    enc, card = encoder_from_checkpoint(checkpoint)
    enc.eval()
    cfg = card_train_config({**card, "synth": "tr808"})
    synth = synths.get("tr808", **cfg.synth_options)
    loss = SCRAPLLoss(synth.n_samples, **JTFS_PRESETS["tr808"], n_theta=synth.n_params,
                      use_p_adam=False, use_p_saga=False)
    ds = synthetic_dataset(cfg, "val", synth.params)
    theta, seed = ds.theta[:n_items], ds.seed[:n_items]
    with torch.no_grad():
        x = synth(theta, seed)
        theta_hat = enc(x[..., : enc.config.window])
    params = list(enc.parameters())
    size = sum(p.numel() for p in params)
    paths = [p for p in range(loss.n_paths) if int(loss.meta["n_fr"][p]) == 0]
    lam = []

    def dist(x: torch.Tensor, x_hat: torch.Tensor, path: int) -> torch.Tensor:  # counters untouched
        return loss.path_dists(x, x_hat, [path]).mean()

    for p in paths:
        op = ThetaCurvature(dist, p, lambda x: enc(x[..., : enc.config.window]),
                            lambda th: synth(th, seed), [{"x": x}])
        gen = torch.Generator().manual_seed(p)
        lam.append(power_iteration(lambda v, a, op=op: op.apply(params, v, a), synth.n_params, size,
                                   n_iter=5, generator=gen).abs().numpy())
    exact = np.array(lam)  # (P', U)
    proxy = path_theta_grads(loss, synth, theta_hat, x, seed, paths)[0].double().square().sum(1).numpy()
    rates = np.array([loss.jtfs.path_info(p, synth.sample_rate).rate_hz for p in paths])
    slow = rates <= 10
    for u, name in enumerate(synth.param_names):
        print(f"{name:12s} rank corr |λ| vs proxy {spearmanr(exact[:, u], proxy[:, u]).correlation:5.2f}  "
              f"max |λ| {exact[:, u].max():9.3g}")
    pi_exact = (exact / exact.sum(0, keepdims=True)).mean(1)
    pi_proxy = (proxy / proxy.sum(0, keepdims=True)).mean(1)
    print(f"θ-IS mass on rate <= 10 Hz paths: exact {pi_exact[slow].sum():.2f}, "
          f"proxy {pi_proxy[slow].sum():.2f}, uniform {slow.mean():.2f}; rank corr of the probabilities "
          f"{spearmanr(pi_exact, pi_proxy).correlation:.2f}")


if __name__ == "__main__":
    main(sys.argv[1])
