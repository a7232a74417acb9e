"""The loss and optimiser of a run, built in one place for training and for the background fine-tune.

Optimiser choice (the paper's): with P-Adam or P-SAGA, the loss rewrites the gradients into the step
direction itself (P-Adam is already an Adam normalisation, per path), so the optimiser must only scale
and apply it: plain SGD, momentum 0.  Otherwise AdamW.  Both with decoupled weight decay
``cfg.weight_decay`` (SGD adds ``wd·w`` to the rewritten gradient, as in the paper's runs).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from scrapl_live.train.config import TrainConfig


def make_train_loss(
    cfg: TrainConfig, synth: nn.Module, table_dtype: torch.dtype = torch.float32
) -> nn.Module:
    """Loss module for ``cfg.loss``: audio losses take (x̂, x) (B, 1, N); "ploss" takes (θ̂, θ) (B, U).

    SCRAPL uses the paper's JTFS settings for the synth (P = 315 textures, 483 tr808), the paper's
    P-SAGA average (``saga_denominator="paper"``, docs/method.md#p-saga), step-seeded path draws
    (``sampling_seed`` = run seed: reproducible, identical on every DDP rank) and ``eval_paths`` fixed
    paths in eval mode (deterministic validation); ``table_dtype`` stores its P-Adam/P-SAGA tables.
    ``log1p_eps`` moves the knee of ρ = log1p(S/eps) (tr808): a lower knee compresses the loud attack
    and lifts the quiet decay.
    """
    if cfg.loss == "scrapl":
        from scrapl_live.loss import SCRAPLLoss

        return SCRAPLLoss(
            synth.n_samples,
            **cfg.jtfs_settings,
            use_p_adam=cfg.p_adam,
            use_p_saga=cfg.p_saga,
            n_theta=synth.n_params,
            paths_per_step=cfg.paths_per_step,
            eval_paths=cfg.eval_paths,
            sampling_seed=cfg.seed,
            saga_denominator="paper",
            table_dtype=table_dtype,
        )
    from scrapl_live.loss.baselines import make_loss

    if cfg.loss == "jtfs":
        return make_loss("jtfs", shape=synth.n_samples, **cfg.jtfs_distance_settings)
    return make_loss(cfg.loss)


def make_objective(
    cfg: TrainConfig,
    synth: nn.Module,
    params: Sequence[torch.Tensor],
    device: torch.device | str = "cpu",
    table_dtype: torch.dtype = torch.float32,
) -> tuple[nn.Module, torch.optim.Optimizer]:
    """The run's loss (on ``device``) and optimiser over ``params`` (module docstring).

    With P-Adam/P-SAGA the params are attached to the loss optimizer-side (``hooks=False``): the caller
    runs ``loss.transform_grads()`` after backward (after a DDP all-reduce), before ``opt.step()``.
    """
    loss = make_train_loss(cfg, synth, table_dtype).to(device)
    params = list(params)
    if cfg.pathwise:
        loss.attach_params(params, hooks=False)
        opt: torch.optim.Optimizer = torch.optim.SGD(
            params, lr=cfg.learning_rate, momentum=0.0, weight_decay=cfg.weight_decay
        )
    else:
        opt = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    return loss, opt
