"""θ-IS of a SCRAPLLoss with the scrapl-loss 0.1.0 signatures (its methods ``warmup_lc_hvp``,
``calc_theta_eigs(_multibatch)``, ``load_probs_from_warmup_dir``, ``check_is_deterministic``).

Functions of the loss, on top of :mod:`scrapl_live.loss.warmup` (curvature by power iteration,
probabilities from values; docs/method.md#θ-is).  The warm-up evaluates the distance on the requested
path through ``loss.path_dists``, which leaves the training counters (``path_counts``, ``scrapl_t``,
``curr_path_idx``) untouched (scrapl-loss advances them during its warm-up).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from scrapl_live.loss import warmup as wu

if TYPE_CHECKING:
    from scrapl_live.loss.scrapl import SCRAPLLoss

log = logging.getLogger(__name__)


def _loss_fn(loss: SCRAPLLoss) -> Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]:
    """Distance on ``path_idx`` between x and x_hat, both (B, C, N), without touching counters."""
    return lambda x, x_hat, path_idx: loss.path_dists(x, x_hat, [path_idx]).mean()


def warmup(
    loss: SCRAPLLoss,
    theta_fn: Callable[..., torch.Tensor],
    synth_fn: Callable[..., torch.Tensor],
    theta_fn_kwargs: list[dict[str, Any]],
    params: Sequence[torch.Tensor],
    synth_fn_kwargs: list[dict[str, Any]] | None = None,
    start_path_idx: int = 0,
    end_path_idx: int | None = None,
    save_dir: str | None = "scrapl_warmup",
    n_iter: int = 20,
    agg: wu.Agg = "none",
    force_multibatch: bool = False,
    seed: int = 0,
) -> None:
    """θ-IS warm-up over paths [start_path_idx, end_path_idx): sets ``probs`` from the curvature values.

    theta_fn(**kw) -> θ̂ (B, U) for each kw of ``theta_fn_kwargs`` (each with the target audio "x",
    (B, C, N)); synth_fn(θ̂, **skw) -> x̂ (B, C, N); params: the weights the curvature is taken over.
    Files in ``save_dir`` as scrapl-loss (``vals_{p}.pt``, ``probs.pt``).  ``force_multibatch`` is
    accepted for compatibility: one and several batches use the same computation here.  ``seed`` seeds
    the power-iteration start vectors (scrapl-loss's are unseeded).  Values of earlier calls stay known.
    """
    if loss.attached_params:
        raise ValueError("params: detach them (attach_params([])) before the warm-up; hooks would fire")
    loss.sampler.check_not_loaded("run the warm-up")
    log.debug("warmup_lc_hvp: force_multibatch=%s has no effect here", force_multibatch)
    result = wu.warmup_lc_hvp(
        _loss_fn(loss), loss.n_paths, theta_fn, synth_fn, theta_fn_kwargs, params,
        synth_fn_kwargs=synth_fn_kwargs, start_path_idx=start_path_idx, end_path_idx=end_path_idx,
        save_dir=save_dir, n_iter=n_iter, agg=agg, seed=seed, min_prob_frac=loss.min_prob_frac, eps=loss.eps,
    )
    vals = {**loss.sampler.known_vals(), **{p: wu.aggregate_vals(v, agg) for p, v in result.vals.items()}}
    probs = wu.probs_from_vals(vals, loss.n_paths, loss.n_theta, loss.min_prob_frac, loss.eps)
    loss.sampler.set_theta_probs(probs, sorted(vals))


def theta_eigs(
    loss: SCRAPLLoss,
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
    return wu.calc_theta_eigs(_loss_fn(loss), path_idx, theta_fn, synth_fn, theta_fn_kwargs, params,
                              synth_fn_kwargs, n_iter=n_iter, seed=0 if seed is None else seed)[0]


def theta_eigs_multibatch(
    loss: SCRAPLLoss,
    path_idx: int,
    theta_fn: Callable[..., torch.Tensor],
    synth_fn: Callable[..., torch.Tensor],
    theta_fn_kwargs: list[dict[str, Any]],
    params: Sequence[torch.Tensor],
    synth_fn_kwargs: list[dict[str, Any]] | None = None,
    n_iter: int = 20,
) -> torch.Tensor:
    """As :func:`theta_eigs` with the operators summed over several batches: (U,)."""
    return wu.calc_theta_eigs(_loss_fn(loss), path_idx, theta_fn, synth_fn, theta_fn_kwargs, params,
                              synth_fn_kwargs, n_iter=n_iter)[0]


def probs_from_warmup_dir(loss: SCRAPLLoss, warmup_dir: str, agg: wu.Agg = "none") -> None:
    """Clear the loss's state (as scrapl-loss), then set ``probs`` from ``warmup_dir``/vals_{p}.pt files."""
    loss.clear()
    probs = wu.load_probs_from_warmup_dir(warmup_dir, loss.n_paths, loss.n_theta, agg, loss.min_prob_frac,
                                          loss.eps)
    known = [p for p in range(loss.n_paths) if os.path.isfile(os.path.join(warmup_dir, f"vals_{p}.pt"))]
    loss.sampler.set_theta_probs(probs, known)
    loss.loaded_probs_path = warmup_dir


def check_is_deterministic(
    theta_fn: Callable[..., torch.Tensor],
    theta_fn_kwargs: Mapping[str, Any],
    synth: Callable[..., torch.Tensor],
    synth_fn_kwargs: Mapping[str, Any] | None = None,
) -> bool:
    """True when two calls of ``theta_fn`` and of ``synth`` on its output agree (the warm-up needs this)."""
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
