"""Path-sampling warm-ups that run before a SCRAPL training starts: θ-IS (REFERENCE §3, curvature
per path) and descent votes (train/votes.py, sign agreement per path).  A mixin of ``Trainer``: both
read its encoder, synth, loss and batches, and leave their probabilities in the SCRAPL state, so a
resumed run does not repeat them."""

from __future__ import annotations

import logging
import math

import torch

from scrapl_live.train.data import mix_seed
from scrapl_live.train.votes import vote_values, vote_warmup

log = logging.getLogger(__name__)


class PathWarmups:
    """``_theta_is`` and ``_vote_is`` for ``Trainer`` (which provides every attribute they use)."""

    def _vote_is(self) -> None:
        """Descent-vote warm-up (train/votes.py) on the first ``vote_is_items`` synthetic training items;
        every rank computes the same votes (rank 0 caches them), and the probabilities become part of the
        SCRAPL state."""
        n_batches = math.ceil(self.cfg.vote_is_items / self.n_syn)
        out = self.out / "vote_is" if self.rank == 0 else None
        share = vote_warmup(self.loss, self.synth, self._targets, n_batches, out, self.cfg.seed)
        self.loss.set_path_values(vote_values(share))
        drift_u, drift_p = (2 * share - 1).mean(0), (2 * share - 1).T @ self.loss.probs
        for name, du, dp in zip(self.synth.param_names, drift_u, drift_p, strict=True):
            log.info("descent votes, %s: mean drift per step %.3f uniform -> %.3f", name, du, dp)

    def _theta_is(self) -> None:
        """θ-importance-sampling warm-up (REFERENCE §3) on the first ``theta_is_batches`` training batches.

        P-Adam/P-SAGA tables are detached during the warm-up (its backward passes must not touch them)
        and re-attached empty afterwards; the probabilities become part of the SCRAPL state.
        """
        batches = [{"x": self._targets(b)[0]} for b in range(self.cfg.theta_is_batches)]
        gen = torch.Generator().manual_seed(mix_seed(self.cfg.seed, 0, 3))
        seed_hat = torch.randint(0, 2**31 - 1, (self.cfg.batch,), generator=gen)
        params = list(self.encoder.parameters())
        if self.cfg.pathwise:
            self.loss.attach_params([])
        self.encoder.eval()
        self.loss.warmup_lc_hvp(
            theta_fn=lambda x: self.encoder(x[..., : self.window]),
            synth_fn=lambda theta: self.synth(theta, seed_hat[: theta.shape[0]]),
            theta_fn_kwargs=batches,
            params=params,
            save_dir=str(self.out / "theta_is"),
            n_iter=self.cfg.theta_is_iters,
            seed=self.cfg.seed,
        )
        if self.cfg.pathwise:
            self.loss.attach_params(params, hooks=False)
        probs = self.loss.probs
        log.info(
            "θ-IS probabilities: min %.3g, max %.3g (uniform %.3g)",
            float(probs.min()),
            float(probs.max()),
            1.0 / self.loss.n_paths,
        )
