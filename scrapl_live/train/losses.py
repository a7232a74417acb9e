"""The training loss of a run: SCRAPL (per-synth JTFS preset) or a baseline from ``scrapl_live.loss``."""

from __future__ import annotations

from torch import nn

from scrapl_live.train.config import TrainConfig


def make_train_loss(cfg: TrainConfig, synth: nn.Module) -> nn.Module:
    """Loss module for ``cfg.loss``: audio losses take (x̂, x) (B, 1, N); "ploss" takes (θ̂, θ) (B, U).

    SCRAPL uses the paper's JTFS settings for the synth (P = 315 textures, 483 tr808), step-seeded
    path draws (``sampling_seed`` = run seed: reproducible, identical on every DDP rank) and
    ``eval_paths`` fixed paths in eval mode (deterministic validation). ``log1p_eps`` moves the knee of
    ρ = log1p(S/eps) (tr808): a lower knee compresses the loud attack and lifts the quiet decay.
    With descent-vote probabilities the loss keeps ``VOTE_FLOOR`` of the sampling mass uniform.
    """
    if cfg.loss == "scrapl":
        from scrapl_live.loss import SCRAPLLoss
        from scrapl_live.train.votes import VOTE_FLOOR

        return SCRAPLLoss(
            synth.n_samples,
            **cfg.jtfs_settings,
            use_p_adam=cfg.p_adam,
            use_p_saga=cfg.p_saga,
            n_theta=synth.n_params,
            min_prob_frac=VOTE_FLOOR if cfg.vote_is else 0.0,
            paths_per_step=cfg.paths_per_step,
            balance_paths=cfg.balance_paths,
            eval_paths=cfg.eval_paths,
            sampling_seed=cfg.seed,
            lean=cfg.lean,
        )
    from scrapl_live.loss.baselines import make_loss

    if cfg.loss == "jtfs":
        return make_loss("jtfs", shape=synth.n_samples, **cfg.jtfs_distance_settings)
    return make_loss(cfg.loss)
