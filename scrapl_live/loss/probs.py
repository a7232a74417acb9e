"""θ-IS sampling probabilities of SCRAPLLoss: per-θ log values/probabilities and their update rule.

Same arithmetic (float64, log domain) as scrapl-loss 0.1.0 ``update_prob`` (REFERENCE §3): once all P
paths of θ_u have a curvature value C_{u,p}, π_{u,p} = (1-f)·C_{u,p}/Σ C_{u,·}; while only some are
known, they share the mass #known/P in proportion to C and the others keep their previous proportions;
the sampling distribution is π_p = mean_u (π_{u,p} + f/P), f = ``min_prob_frac``.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import torch
from torch import nn

from scrapl_live.loss.validation import check_path_indices, check_probs_vector


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


class SamplingProbsMixin(nn.Module):
    """``probs``, ``all_log_vals``, ``all_log_probs``, ``updated_path_indices`` and ``update_prob``.

    Expects on the host module: n_paths, n_theta, eps, min_prob_frac, unif_prob, loaded_probs_path.
    """

    calc_log_probs = staticmethod(calc_log_probs)
    check_probs = staticmethod(check_probs)

    def _init_probs_state(self) -> None:
        self.log_eps = torch.tensor(self.eps, dtype=torch.double).log()
        self.log_unif_prob = torch.tensor(self.unif_prob, dtype=torch.double).log()
        self.min_prob = self.unif_prob * self.min_prob_frac
        self.log_1m_min_prob_frac = torch.tensor(1.0 - self.min_prob_frac, dtype=torch.double).log()
        self.updated_path_indices: defaultdict[int, set[int]] = defaultdict(set)
        self.all_log_vals = torch.full((self.n_theta, self.n_paths), float(self.log_eps), dtype=torch.double)
        self.all_log_probs = torch.full(
            (self.n_theta, self.n_paths), float(self.log_unif_prob), dtype=torch.double
        )
        self.probs = torch.full((self.n_paths,), self.unif_prob, dtype=torch.double)

    def update_prob(self, path_idx: int, val: float | torch.Tensor, theta_idx: int = 0) -> None:
        """Record curvature ``val`` ≥ 0 of path ``path_idx`` for θ index ``theta_idx``; update ``probs``."""
        if self.loaded_probs_path is not None:
            raise ValueError(f"cannot update probs: external probs loaded from {self.loaded_probs_path!r}")
        (path_idx,) = check_path_indices(path_idx, self.n_paths)
        if not 0 <= theta_idx < self.n_theta:
            raise ValueError(f"theta_idx={theta_idx} is out of range [0, {self.n_theta})")
        val = torch.as_tensor(val, dtype=torch.double).detach().cpu()
        if val.numel() != 1 or not math.isfinite(float(val)) or float(val) < 0:
            raise ValueError(f"val must be a finite scalar >= 0, got {val}")
        self.updated_path_indices[theta_idx].add(path_idx)
        updated = list(self.updated_path_indices[theta_idx])
        log_vals = self.all_log_vals[theta_idx]
        log_vals[path_idx] = val.reshape(()).clamp(min=self.eps).log()
        if len(updated) < 2:
            return
        if len(updated) == self.n_paths:
            log_probs = calc_log_probs(log_vals)
        else:
            prev = self.all_log_probs[theta_idx]
            prev[updated] = self.log_eps
            frac = torch.tensor(len(updated) / self.n_paths, dtype=torch.double)
            mixed = calc_log_probs(prev) + (1.0 - frac).log()
            mixed[updated] = (calc_log_probs(log_vals) + frac.log())[updated]
            log_probs = calc_log_probs(mixed)
        self.all_log_probs[theta_idx] = log_probs + self.log_1m_min_prob_frac
        self._recompute_probs()

    def _recompute_probs(self) -> None:
        """probs = mean over θ of (exp(all_log_probs) + min_prob); validated."""
        self.probs = (self.all_log_probs.exp() + self.min_prob).mean(dim=0)
        self._check_probs()

    def _check_probs(self) -> None:
        check_probs(self.probs, self.n_paths, self.eps, self.min_prob)
        all_probs, all_vals = self.all_log_probs.exp() + self.min_prob, self.all_log_vals.exp()
        for u in range(self.n_theta):
            check_probs(
                all_probs[u], self.n_paths, self.eps, self.min_prob, all_vals[u],
                list(self.updated_path_indices[u]),
            )
