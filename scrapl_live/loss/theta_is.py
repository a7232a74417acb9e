"""θ-IS methods of SCRAPLLoss with the scrapl-loss 0.1.0 signatures, delegating to
:mod:`scrapl_live.loss.warmup` (curvature by power iteration, probabilities from values).

The warm-up evaluates the distance on the requested path through :meth:`_warmup_loss`, which leaves
the training counters (``path_counts``, ``scrapl_t``, ``curr_path_idx``) untouched (the reference's
advance during warm-up, REFERENCE §9.5).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from scrapl_live.loss import warmup

log = logging.getLogger(__name__)


class ThetaISMixin(nn.Module):
    """``warmup_lc_hvp``, ``calc_theta_eigs(_multibatch)``, ``load_probs_from_warmup_dir``,
    ``check_is_deterministic``.  Expects the host's distance (``path_dists``), probability
    state (``probs``, ``all_log_vals``, ``all_log_probs``, ``updated_path_indices``) and ``clear``."""

    def _warmup_loss(self, x: torch.Tensor, x_hat: torch.Tensor, path_idx: int) -> torch.Tensor:
        """Distance on ``path_idx`` between x and x_hat, both (B, C, N), without touching counters."""
        return self.path_dists(x, x_hat, [path_idx]).mean()

    def _apply_theta_probs(self, probs: warmup.ThetaProbs, paths: Sequence[int]) -> None:
        self.probs = probs.probs.clone()
        self.all_log_vals = probs.log_vals.clone()
        self.all_log_probs = probs.log_probs.clone()
        for u in range(self.n_theta):
            self.updated_path_indices[u].update(int(p) for p in paths)
        self._check_probs()

    def warmup_lc_hvp(
        self,
        theta_fn: Callable[..., torch.Tensor],
        synth_fn: Callable[..., torch.Tensor],
        theta_fn_kwargs: list[dict[str, Any]],
        params: Sequence[torch.Tensor],
        synth_fn_kwargs: list[dict[str, Any]] | None = None,
        start_path_idx: int = 0,
        end_path_idx: int | None = None,
        save_dir: str | None = "scrapl_warmup",
        n_iter: int = 20,
        agg: warmup.Agg = "none",
        force_multibatch: bool = False,
        seed: int = 0,
    ) -> None:
        """θ-IS warm-up over paths [start_path_idx, end_path_idx): sets ``probs`` from the curvature values.

        Files in ``save_dir`` as the reference (``vals_{p}.pt``, ``probs.pt``).  ``force_multibatch`` is
        accepted for compatibility: one and several batches use the same computation here.  ``seed``
        seeds the power-iteration start vectors (the reference's are unseeded).
        """
        if self.attached_params:
            raise ValueError("params: detach them (attach_params([])) before the warm-up; hooks would fire")
        if self.loaded_probs_path is not None:
            raise ValueError(f"cannot run the warm-up: external probs loaded from {self.loaded_probs_path!r}")
        log.debug("warmup_lc_hvp: force_multibatch=%s has no effect here", force_multibatch)
        result = warmup.warmup_lc_hvp(
            self._warmup_loss, self.n_paths, theta_fn, synth_fn, theta_fn_kwargs, params,
            synth_fn_kwargs=synth_fn_kwargs, start_path_idx=start_path_idx, end_path_idx=end_path_idx,
            save_dir=save_dir, n_iter=n_iter, agg=agg, seed=seed, min_prob_frac=self.min_prob_frac,
            eps=self.eps,
        )
        known = set().union(*self.updated_path_indices.values()) | set(result.vals)
        vals = {p: warmup.aggregate_vals(v, agg) for p, v in result.vals.items()}
        for p in known - set(vals):  # values of earlier calls stay known
            vals[p] = self.all_log_vals[:, p].exp()
        probs = warmup.probs_from_vals(vals, self.n_paths, self.n_theta, self.min_prob_frac, self.eps)
        self._apply_theta_probs(probs, sorted(known))

    def calc_theta_eigs(
        self,
        path_idx: int,
        theta_fn: Callable[..., torch.Tensor],
        synth_fn: Callable[..., torch.Tensor],
        theta_fn_kwargs: dict[str, Any],
        params: Sequence[torch.Tensor],
        seed: int | None = None,
        synth_fn_kwargs: dict[str, Any] | None = None,
        n_iter: int = 20,
    ) -> torch.Tensor:
        """Signed dominant eigenvalue per θ dimension (U,) for one batch; ``seed`` seeds the start vector."""
        return warmup.calc_theta_eigs(
            self._warmup_loss, path_idx, theta_fn, synth_fn, theta_fn_kwargs, params, synth_fn_kwargs,
            n_iter=n_iter, seed=0 if seed is None else seed,
        )[0]

    def calc_theta_eigs_multibatch(
        self,
        path_idx: int,
        theta_fn: Callable[..., torch.Tensor],
        synth_fn: Callable[..., torch.Tensor],
        theta_fn_kwargs: list[dict[str, Any]],
        params: Sequence[torch.Tensor],
        synth_fn_kwargs: list[dict[str, Any]] | None = None,
        n_iter: int = 20,
    ) -> torch.Tensor:
        """As :meth:`calc_theta_eigs` with the operators summed over several batches: (U,)."""
        return warmup.calc_theta_eigs(
            self._warmup_loss, path_idx, theta_fn, synth_fn, theta_fn_kwargs, params, synth_fn_kwargs,
            n_iter=n_iter,
        )[0]

    def load_probs_from_warmup_dir(self, warmup_dir: str, agg: warmup.Agg = "none") -> None:
        """Clear the state (as the reference), then set ``probs`` from ``warmup_dir``/vals_{p}.pt files."""
        self.clear()
        probs = warmup.load_probs_from_warmup_dir(
            warmup_dir, self.n_paths, self.n_theta, agg, self.min_prob_frac, self.eps
        )
        known = [p for p in range(self.n_paths) if os.path.isfile(os.path.join(warmup_dir, f"vals_{p}.pt"))]
        self._apply_theta_probs(probs, known)
        self.loaded_probs_path = warmup_dir

    @staticmethod
    def check_is_deterministic(
        theta_fn: Callable[..., torch.Tensor],
        theta_fn_kwargs: Mapping[str, Any],
        synth: Callable[..., torch.Tensor],
        synth_fn_kwargs: Mapping[str, Any] | None = None,
    ) -> bool:
        """True when two calls of ``theta_fn`` and of ``synth`` on its output agree (warm-up needs this)."""
        with torch.no_grad():
            t1, t2 = theta_fn(**theta_fn_kwargs), theta_fn(**theta_fn_kwargs)
            if not torch.allclose(t1, t2):
                log.warning("theta_fn is not deterministic")
                return False
            skw = synth_fn_kwargs or {}
            if not torch.allclose(synth(t1, **skw), synth(t2, **skw)):
                log.warning("synth_fn is not deterministic")
                return False
        return True
