"""Which scattering path(s) a SCRAPL training step uses: probabilities, visit counts, RNG and their state.

:class:`PathSampler` holds everything about path choice that a run must save to resume exactly:
the sampling distribution ``probs`` (uniform, loaded, or set by θ-IS per θ dimension), the visit
counts and the not-yet-visited list (``sample_all_paths_first``), the step counter and the private
generator.  ``SCRAPLLoss`` composes one and exposes its attributes under the scrapl-loss 0.1.0 names.
Sampling rule: docs/method.md#scrapl-path-sampling; θ-IS probabilities: docs/method.md#θ-is.
"""

from __future__ import annotations

import logging
import math
import os
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import torch

from scrapl_live.loss import sampling, state
from scrapl_live.loss.probs import check_probs, theta_probs_update
from scrapl_live.loss.validation import check_path_indices

log = logging.getLogger(__name__)


class PathSampler:
    """Path sampling state of a SCRAPL loss over ``n_paths`` paths.

    Args:
        n_paths: number of scattering paths P.
        n_theta: number of θ dimensions U that keep their own θ-IS distribution (averaged into ``probs``).
        min_prob_frac: f ∈ [0, 1): each θ dimension's distribution is mixed as (1-f)·π_u + f/P.
        eps: floor of the θ-IS curvature values (and tolerance of the probability checks).
        sample_all_paths_first: visit every path once (uniformly at random, without replacement) before
            sampling from ``probs``.
        sampling_seed: if set, the draw at step t uses the private generator seeded from
            (sampling_seed, t): reproducible runs, the same path on every rank.  None: the global RNG,
            except under an initialised ``torch.distributed`` group, where it defaults to 0.

    Attributes (scrapl-loss names): ``probs`` (P,) float64; ``all_log_vals``, ``all_log_probs`` (U, P)
    float64; ``updated_path_indices`` {u: set of paths with a θ-IS value}; ``loaded_probs_path``;
    ``path_counts`` {path: visits}; ``unsampled_paths``; ``rand_gen``; ``scrapl_t`` (training steps);
    ``curr_path_idx`` / ``curr_path_indices`` (the last step's paths).
    """

    def __init__(
        self,
        n_paths: int,
        n_theta: int = 1,
        min_prob_frac: float = 0.0,
        eps: float = 1e-12,
        sample_all_paths_first: bool = False,
        sampling_seed: int | None = None,
    ) -> None:
        if n_theta < 1:
            raise ValueError(f"n_theta must be >= 1, got {n_theta}")
        if not 0.0 <= min_prob_frac < 1.0:
            raise ValueError(f"min_prob_frac must be in [0, 1), got {min_prob_frac}")
        self.n_paths, self.n_theta, self.min_prob_frac, self.eps = n_paths, n_theta, min_prob_frac, eps
        self.sample_all_paths_first = sample_all_paths_first
        self.sampling_seed = sampling_seed
        self.unif_prob = 1.0 / n_paths
        self.min_prob = self.unif_prob * min_prob_frac
        self.rand_gen = torch.Generator(device="cpu")
        self.reset()

    # Counters -------------------------------------------------------------------------------------
    def reset(self) -> None:
        """Counters and sampler back to the start, probabilities to uniform (no θ-IS values, none loaded)."""
        self.curr_path_idx: int | None = None
        self.curr_path_indices: list[int] = []
        self.path_counts: defaultdict[int, int] = defaultdict(int)
        self.unsampled_paths: list[int] = list(range(self.n_paths))
        self.scrapl_t = 0
        self.loaded_probs_path: str | None = None
        self.updated_path_indices: defaultdict[int, set[int]] = defaultdict(set)
        log_eps = float(torch.tensor(self.eps, dtype=torch.double).log())
        log_unif = float(torch.tensor(self.unif_prob, dtype=torch.double).log())
        self.all_log_vals = torch.full((self.n_theta, self.n_paths), log_eps, dtype=torch.double)
        self.all_log_probs = torch.full((self.n_theta, self.n_paths), log_unif, dtype=torch.double)
        self.probs = torch.full((self.n_paths,), self.unif_prob, dtype=torch.double)

    @property
    def visits(self) -> int:
        """Path visits of all training steps so far (k per step with k paths per step)."""
        return sum(self.path_counts.values())

    def record(self, paths: list[int], training: bool) -> None:
        """Note the paths of a forward pass; a training step also counts its visits and advances the step."""
        self.curr_path_idx, self.curr_path_indices = paths[0], paths
        if training:
            for p in paths:
                self.path_counts[p] += 1
            self.scrapl_t += 1

    # Sampling -------------------------------------------------------------------------------------
    def _generator(self, seed: int | None) -> torch.Generator | None:
        """Generator for this draw: the re-seeded private one (explicit or step seed), None = global RNG."""
        base = self.sampling_seed
        if base is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            base = 0
        if seed is None and base is None:
            return None
        self.rand_gen.manual_seed(seed if seed is not None else sampling.step_seed(base, self.scrapl_t))
        return self.rand_gen

    def sample(self, k: int, seed: int | None = None) -> list[int]:
        """Draw ``k`` distinct path indices (for k = 1 exactly the scrapl-loss rule)."""
        visit_all_first = self.sample_all_paths_first and len(self.path_counts) < self.n_paths
        gen = self._generator(seed)
        return sampling.draw_paths(self.probs, k, self.unsampled_paths, visit_all_first, gen)

    # Probabilities --------------------------------------------------------------------------------
    def load_probs(self, probs_path: str) -> None:
        """Use the (P,) tensor saved with ``torch.save`` in ``probs_path`` as the sampling distribution."""
        if not os.path.isfile(probs_path):
            raise FileNotFoundError(f"probs_path {probs_path!r} does not exist")
        probs = torch.load(probs_path, weights_only=True)
        if not isinstance(probs, torch.Tensor):
            raise ValueError(f"probs_path {probs_path!r} does not hold a tensor")
        probs = probs.detach().double().cpu()
        check_probs(probs, self.n_paths, max(self.eps, 1e-6))
        self.probs = probs
        self.loaded_probs_path = probs_path
        log.info("Loaded probs from %s: min %.6f, max %.6f", probs_path, probs.min(), probs.max())

    def check_not_loaded(self, what: str) -> None:
        """ValueError when external probabilities were loaded (θ-IS must not overwrite them)."""
        if self.loaded_probs_path is not None:
            raise ValueError(f"cannot {what}: external probs loaded from {self.loaded_probs_path!r}")

    def update_prob(self, path_idx: int, val: float | torch.Tensor, theta_idx: int = 0) -> None:
        """Record curvature ``val`` ≥ 0 of path ``path_idx`` for θ dimension ``theta_idx``; update probs."""
        self.check_not_loaded("update probs")
        (path_idx,) = check_path_indices(path_idx, self.n_paths)
        if not 0 <= theta_idx < self.n_theta:
            raise ValueError(f"theta_idx={theta_idx} is out of range [0, {self.n_theta})")
        val = torch.as_tensor(val, dtype=torch.double).detach().cpu()
        if val.numel() != 1 or not math.isfinite(float(val)) or float(val) < 0:
            raise ValueError(f"val must be a finite scalar >= 0, got {val}")
        self.updated_path_indices[theta_idx].add(path_idx)
        updated = sorted(self.updated_path_indices[theta_idx])
        self.all_log_vals[theta_idx, path_idx] = val.reshape(()).clamp(min=self.eps).log()
        if len(updated) < 2:
            return
        self.all_log_probs[theta_idx] = theta_probs_update(
            self.all_log_vals[theta_idx], self.all_log_probs[theta_idx], updated, self.eps, self.min_prob_frac
        )
        self._recompute_probs()

    def set_theta_probs(self, probs: Any, paths: Iterable[int]) -> None:
        """Adopt a θ-IS result (``warmup.ThetaProbs``: probs, log_vals, log_probs) for the given paths."""
        self.probs = probs.probs.clone()
        self.all_log_vals = probs.log_vals.clone()
        self.all_log_probs = probs.log_probs.clone()
        paths = [int(p) for p in paths]
        for u in range(self.n_theta):
            self.updated_path_indices[u].update(paths)
        self.check()

    def known_vals(self) -> dict[int, torch.Tensor]:
        """θ-IS values {path: (U,)} of the paths any θ dimension has a value for."""
        known = set().union(*self.updated_path_indices.values())
        return {p: self.all_log_vals[:, p].exp() for p in sorted(known)}

    def _recompute_probs(self) -> None:
        """probs = mean over θ of (exp(all_log_probs) + min_prob); validated."""
        self.probs = (self.all_log_probs.exp() + self.min_prob).mean(dim=0)
        self.check()

    def check(self) -> None:
        """Validate ``probs`` and, per θ dimension, its proportionality to the recorded values."""
        check_probs(self.probs, self.n_paths, self.eps, self.min_prob)
        all_probs, all_vals = self.all_log_probs.exp() + self.min_prob, self.all_log_vals.exp()
        for u in range(self.n_theta):
            check_probs(all_probs[u], self.n_paths, self.eps, self.min_prob, all_vals[u],
                        list(self.updated_path_indices[u]))

    # State ----------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Tensors and plain values under the scrapl-loss keys plus ``scrapl_t`` and ``rand_gen_state``."""
        return state.export_state(self)

    def load_state_dict(self, values: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (or a scrapl-loss 0.1.0 state dict with its Python objects)."""
        state.import_state(self, values)

