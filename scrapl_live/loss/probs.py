"""θ-IS sampling probabilities: per-θ log values/probabilities, their checks and their update rule.

Same arithmetic (float64, log domain) as scrapl-loss 0.1.0 ``update_prob`` (docs/method.md#θ-is): once all P
paths of θ_u have a curvature value C_{u,p}, π_{u,p} = (1-f)·C_{u,p}/Σ C_{u,·}; while only some are
known, they share the mass #known/P in proportion to C and the others keep their previous proportions;
the sampling distribution is π_p = mean_u (π_{u,p} + f/P), f = ``min_prob_frac``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scrapl_live.loss.validation import check_probs_vector


def calc_log_probs(log_vals: torch.Tensor) -> torch.Tensor:
    """Normalise log values into log probabilities: (P,) -> (P,)."""
    if log_vals.ndim != 1:
        raise ValueError(f"log_vals must be 1-D (P,), got shape {tuple(log_vals.shape)}")
    return log_vals - torch.logsumexp(log_vals, dim=0)


def check_probs(
    probs: torch.Tensor,
    n_paths: int,
    eps: float,
    min_prob: float = 0.0,
    vals: torch.Tensor | None = None,
    updated_indices: Sequence[int] | None = None,
) -> None:
    """Validate a distribution (shape, sum 1, ≥ min_prob) and, given curvature ``vals`` (P,) and the
    updated path indices, that the probabilities above ``min_prob`` are proportional to the values."""
    check_probs_vector(probs, n_paths, eps, min_prob)
    if vals is None or updated_indices is None or len(updated_indices) < 2:
        return
    if vals.shape != (n_paths,):
        raise ValueError(f"vals must have shape ({n_paths},), got {tuple(vals.shape)}")
    idx = list(updated_indices)
    val_ratios = vals[idx] / vals[idx].min()
    raw = probs[idx] - min_prob
    if not bool((raw > 0).all()):
        raise ValueError("probs of updated paths must exceed min_prob")
    if not torch.allclose(val_ratios, raw / raw.min(), atol=1e-3, rtol=1e-3):
        raise ValueError("probs of updated paths are not proportional to their values")


def theta_probs_update(
    log_vals: torch.Tensor, prev_log_probs: torch.Tensor, updated: Sequence[int], eps: float,
    min_prob_frac: float,
) -> torch.Tensor:
    """New log probabilities (P,) of one θ dimension after a curvature value was recorded (module
    docstring): ``log_vals`` (P,) its log values, ``prev_log_probs`` (P,) its previous log probabilities,
    ``updated`` the ≥ 2 paths with a value.  Same float64 arithmetic as scrapl-loss ``update_prob``."""
    n_paths = log_vals.shape[0]
    if len(updated) == n_paths:
        log_probs = calc_log_probs(log_vals)
    else:
        prev = prev_log_probs.clone()
        prev[list(updated)] = torch.tensor(eps, dtype=torch.double).log()
        frac = torch.tensor(len(updated) / n_paths, dtype=torch.double)
        mixed = calc_log_probs(prev) + (1.0 - frac).log()
        mixed[list(updated)] = (calc_log_probs(log_vals) + frac.log())[list(updated)]
        log_probs = calc_log_probs(mixed)
    return log_probs + torch.tensor(1.0 - min_prob_frac, dtype=torch.double).log()
