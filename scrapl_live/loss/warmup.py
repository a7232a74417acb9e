"""θ-importance-sampling warm-up (docs/method.md#θ-is): per-path curvature |λ| for each θ dimension, then
sampling probabilities.  Drop-in for scrapl-loss ``warmup_lc_hvp``/``calc_theta_eigs``/
``load_probs_from_warmup_dir`` with ``loss_fn(x, x_hat, path_idx) -> scalar`` passed explicitly.

Differences from the reference (same quantity, less work): the loss is differentiated twice once per
batch and path (see :mod:`scrapl_live.loss.hvp`), all U operators are iterated together, the power
iteration starts from a vector seeded by (seed, path, group), and multi-batch operators reuse cached
first-order pieces instead of recomputing the forward per power step.  Under an initialised
``torch.distributed`` process group (e.g. ``torchrun``, gloo on CPU) each rank takes every
world_size-th path of [start, end); rank 0 gathers the values, writes ``probs.pt`` and every rank gets
the same result.  Files: ``save_dir/vals_{p}.pt`` = |λ| (n_groups, U) float32, written once — an
existing file is loaded instead of recomputed, so an interrupted warm-up resumes — and
``save_dir/probs.pt`` (P,) float64 when the call covered every path.

API note for SCRAPLLoss: pass ``loss_fn`` that does not advance training counters (e.g. the distance
on ``path_idx`` in eval mode); put ``probs``/``log_vals``/``log_probs`` of the returned
:class:`ThetaProbs` into the loss's sampling state.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, NamedTuple

import torch
import torch.distributed as dist

from scrapl_live.loss.hvp import LossFn, ThetaCurvature, power_iteration
from scrapl_live.loss.probs import calc_log_probs, check_probs

log = logging.getLogger(__name__)

Agg = Literal["none", "mean", "max", "med"]
_AGGS = ("none", "mean", "max", "med")


class ThetaProbs(NamedTuple):
    """Sampling distribution from curvature values: probs (P,), log_vals and log_probs (U, P), float64."""

    probs: torch.Tensor
    log_vals: torch.Tensor
    log_probs: torch.Tensor


class WarmupResult(NamedTuple):
    """vals: path index -> |λ| (n_groups, U) for the paths of the call; probs from those values."""

    vals: dict[int, torch.Tensor]
    probs: ThetaProbs


def aggregate_vals(vals: torch.Tensor, agg: Agg) -> torch.Tensor:
    """(n_groups, U) -> (U,): the single group ("none") or the mean/max/median over parameter tensors."""
    if vals.ndim != 2:
        raise ValueError(f"vals must be (n_groups, n_theta), got shape {tuple(vals.shape)}")
    if agg == "none":
        if vals.shape[0] != 1:
            raise ValueError(f"agg='none' expects one group, vals has {vals.shape[0]}")
        return vals[0]
    if agg == "mean":
        return vals.mean(0)
    if agg == "max":
        return vals.max(0).values
    if agg == "med":
        return vals.median(0).values
    raise ValueError(f"agg must be one of {_AGGS}, got {agg!r}")


def probs_from_vals(
    vals: Mapping[int, torch.Tensor],
    n_paths: int,
    n_theta: int,
    min_prob_frac: float = 0.0,
    eps: float = 1e-12,
) -> ThetaProbs:
    """Probabilities from aggregated values {path: (U,)} (docs/method.md#θ-is; scrapl-loss's update rule).

    Per θ_u with k known paths: k < 2 -> uniform; else known paths share k/P in proportion to
    C = max(|λ|, eps) (unknown paths counting eps each in the normaliser, as the reference's log-domain
    update), unknown paths share the rest equally; then π_u ← (1-f)·π_u + f/P and probs = mean_u π_u.
    """
    if not 0.0 <= min_prob_frac < 1.0:
        raise ValueError(f"min_prob_frac must be in [0, 1), got {min_prob_frac}")
    log_eps = torch.tensor(eps, dtype=torch.float64).log()
    log_vals = torch.full((n_theta, n_paths), float(log_eps), dtype=torch.float64)
    for p, v in vals.items():
        if not 0 <= p < n_paths:
            raise ValueError(f"vals has path index {p} outside [0, {n_paths})")
        v = torch.as_tensor(v).detach().double().cpu().reshape(-1)
        if v.shape != (n_theta,) or not bool(torch.isfinite(v).all()) or bool((v < 0).any()):
            raise ValueError(f"vals[{p}] must be {n_theta} finite values >= 0, got {v}")
        log_vals[:, p] = v.clamp(min=eps).log()
    known = torch.zeros(n_paths, dtype=torch.bool)
    known[list(vals)] = True
    k = int(known.sum())
    log_probs = torch.full((n_theta, n_paths), -math.log(n_paths), dtype=torch.float64)
    if k >= 2:
        for u in range(n_theta):
            lp = calc_log_probs(log_vals[u]) + torch.tensor(k / n_paths, dtype=torch.float64).log()
            if k < n_paths:
                lp[~known] = torch.tensor((1 - k / n_paths) / (n_paths - k), dtype=torch.float64).log()
            log_probs[u] = calc_log_probs(lp)
    log_probs = log_probs + torch.tensor(1.0 - min_prob_frac, dtype=torch.float64).log()
    min_prob = min_prob_frac / n_paths
    probs = (log_probs.exp() + min_prob).mean(0)
    check_probs(probs, n_paths, max(eps, 1e-9), min_prob)
    return ThetaProbs(probs, log_vals, log_probs)


def load_probs_from_warmup_dir(
    warmup_dir: str,
    n_paths: int,
    n_theta: int,
    agg: Agg = "none",
    min_prob_frac: float = 0.0,
    eps: float = 1e-12,
) -> ThetaProbs:
    """Merge ``vals_{p}.pt`` files of (possibly parallel) warm-ups into probabilities; missing paths
    are logged and treated as unknown."""
    if not os.path.isdir(warmup_dir):
        raise FileNotFoundError(f"warmup_dir {warmup_dir!r} is not a directory")
    vals = {}
    for p in range(n_paths):
        path = os.path.join(warmup_dir, f"vals_{p}.pt")
        if not os.path.isfile(path):
            log.warning("warm-up values for path %d missing in %s, skipping", p, warmup_dir)
            continue
        vals[p] = aggregate_vals(torch.load(path, weights_only=True), agg)
    return probs_from_vals(vals, n_paths, n_theta, min_prob_frac, eps)


def calc_theta_eigs(
    loss_fn: LossFn,
    path_idx: int,
    theta_fn: Callable[..., torch.Tensor],
    synth_fn: Callable[..., torch.Tensor],
    theta_fn_kwargs: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    params: Sequence[torch.Tensor],
    synth_fn_kwargs: Sequence[Mapping[str, Any]] | Mapping[str, Any] | None = None,
    n_iter: int = 20,
    agg: Agg = "none",
    seed: int = 0,
    tol: float = 1e-4,
    per_example: bool = True,
    cache_graphs: bool = True,
) -> torch.Tensor:
    """Dominant eigenvalue λ (signed) of H_u for every θ dimension u: (n_groups, U) float32.

    Groups: all params as one ("none") or one per tensor (other ``agg``).  Several batches: the
    operators are summed over batches, as the reference's multi-batch mode.
    """
    if agg not in _AGGS:
        raise ValueError(f"agg must be one of {_AGGS}, got {agg!r}")
    if isinstance(theta_fn_kwargs, Mapping):
        theta_fn_kwargs = [theta_fn_kwargs]
    if isinstance(synth_fn_kwargs, Mapping):
        synth_fn_kwargs = [synth_fn_kwargs]
    curv = ThetaCurvature(
        loss_fn, path_idx, theta_fn, synth_fn, theta_fn_kwargs, synth_fn_kwargs, per_example, cache_graphs
    )
    groups = [list(params)] if agg == "none" else [[p] for p in params]
    out = []
    for gi, group in enumerate(groups):
        gen = torch.Generator().manual_seed(_mix_seed(seed, path_idx, gi))
        size = sum(p.numel() for p in group)
        lam = power_iteration(
            lambda vec, act, group=group: curv.apply(group, vec, act),
            curv.n_theta, size, n_iter=n_iter, tol=tol, generator=gen, device=group[0].device,
        )
        out.append(lam.float())
    return torch.stack(out)


def _mix_seed(seed: int, path_idx: int, group: int) -> int:
    """Start-vector seed for (seed, path, group): independent of how paths are split over processes."""
    return ((seed * 1_000_003 + path_idx) * 1009 + group) & ((1 << 63) - 1)


def _check_args(theta_fn_kwargs: Sequence, synth_fn_kwargs: Sequence | None, params: Sequence, agg: str,
                n_iter: int) -> None:
    if not theta_fn_kwargs or not all(isinstance(kw, Mapping) and "x" in kw for kw in theta_fn_kwargs):
        raise ValueError("theta_fn_kwargs must be a non-empty list of dicts, each with the key 'x'")
    if synth_fn_kwargs is not None and len(synth_fn_kwargs) != len(theta_fn_kwargs):
        raise ValueError(
            f"synth_fn_kwargs has {len(synth_fn_kwargs)} entries, theta_fn_kwargs {len(theta_fn_kwargs)}"
        )
    if not params or not all(isinstance(p, torch.Tensor) and p.requires_grad for p in params):
        raise ValueError("params must be a non-empty list of tensors that require grad")
    if agg not in _AGGS:
        raise ValueError(f"agg must be one of {_AGGS}, got {agg!r}")
    if n_iter < 1:
        raise ValueError(f"n_iter must be >= 1, got {n_iter}")


def _warn_if_nondeterministic(theta_fn: Callable, kw: Mapping, synth_fn: Callable, skw: Mapping) -> None:
    with torch.no_grad():
        t1, t2 = theta_fn(**kw), theta_fn(**kw)
        if not torch.allclose(t1, t2):
            log.warning("theta_fn is not deterministic (encoder in train mode / dropout?)")
        elif not torch.allclose(synth_fn(t1, **skw), synth_fn(t2, **skw)):
            log.warning("synth_fn is not deterministic")


def warmup_lc_hvp(
    loss_fn: LossFn,
    n_paths: int,
    theta_fn: Callable[..., torch.Tensor],
    synth_fn: Callable[..., torch.Tensor],
    theta_fn_kwargs: Sequence[Mapping[str, Any]],
    params: Sequence[torch.Tensor],
    synth_fn_kwargs: Sequence[Mapping[str, Any]] | None = None,
    start_path_idx: int = 0,
    end_path_idx: int | None = None,
    save_dir: str | None = "scrapl_warmup",
    n_iter: int = 20,
    agg: Agg = "none",
    seed: int = 0,
    min_prob_frac: float = 0.0,
    eps: float = 1e-12,
    tol: float = 1e-4,
    per_example: bool = True,
    cache_graphs: bool = True,
) -> WarmupResult:
    """θ-IS warm-up over paths [start_path_idx, end_path_idx) (module docstring); returns values and probs."""
    params = list(params)
    _check_args(theta_fn_kwargs, synth_fn_kwargs, params, agg, n_iter)
    end_path_idx = n_paths if end_path_idx is None else end_path_idx
    if not 0 <= start_path_idx < end_path_idx <= n_paths:
        raise ValueError(f"path range [{start_path_idx}, {end_path_idx}) is not inside [0, {n_paths})")
    rank, world = 0, 1
    if dist.is_available() and dist.is_initialized():
        rank, world = dist.get_rank(), dist.get_world_size()
    if save_dir is not None:
        os.makedirs(save_dir, exist_ok=True)
    _warn_if_nondeterministic(theta_fn, theta_fn_kwargs[0], synth_fn, (synth_fn_kwargs or [{}])[0])
    mine: dict[int, torch.Tensor] = {}
    for p in range(start_path_idx + rank, end_path_idx, world):
        file = None if save_dir is None else os.path.join(save_dir, f"vals_{p}.pt")
        if file is not None and os.path.isfile(file):
            mine[p] = torch.load(file, weights_only=True)
            log.info("path %d: reusing %s", p, file)
            continue
        vals = calc_theta_eigs(
            loss_fn, p, theta_fn, synth_fn, theta_fn_kwargs, params, synth_fn_kwargs, n_iter=n_iter,
            agg=agg, seed=seed, tol=tol, per_example=per_example, cache_graphs=cache_graphs,
        ).abs()
        mine[p] = vals
        log.info("path %d: |λ| = %s", p, vals.tolist())
        if file is not None:
            torch.save(vals, file)
    if world > 1:
        parts: list[dict[int, torch.Tensor] | None] = [None] * world
        dist.all_gather_object(parts, mine)
        mine = {p: v for part in parts for p, v in (part or {}).items()}
    n_theta = next(iter(mine.values())).shape[1]
    probs = probs_from_vals({p: aggregate_vals(v, agg) for p, v in mine.items()}, n_paths, n_theta,
                            min_prob_frac, eps)
    if save_dir is not None and rank == 0 and start_path_idx == 0 and end_path_idx == n_paths:
        torch.save(probs.probs, os.path.join(save_dir, "probs.pt"))
    if world > 1:
        dist.barrier()
    return WarmupResult(dict(sorted(mine.items())), probs)
