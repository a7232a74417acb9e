"""SCRAPLLoss: the JTFS distance on randomly sampled scattering paths, drop-in for scrapl-loss 0.1.0.

Per call, one first-order scalogram is computed for ``x`` and one for ``x_target`` (the target without
autograd unless it requires grad), restricted to the first-order bands the sampled paths need, and
shared by the ``paths_per_step`` sampled paths.  Values equal the reference (REFERENCE.md §2.1):
``mean_b || ρ(S_p x_target) - ρ(S_p x) ||_p``, averaged over the sampled paths.
"""

from __future__ import annotations

import logging
import os
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal

import torch

from scrapl_live.loss import sampling, state
from scrapl_live.loss.attach import PathwiseGradMixin
from scrapl_live.loss.probs import SamplingProbsMixin
from scrapl_live.loss.theta_is import ThetaISMixin
from scrapl_live.loss.validation import check_path_indices, check_signal_pair
from scrapl_live.scattering.jtfs import JTFS

log = logging.getLogger(__name__)


class SCRAPLLoss(PathwiseGradMixin, SamplingProbsMixin, ThetaISMixin):
    """Scattering transform with random paths as a loss (constructor as scrapl-loss 0.1.0, plus extras).

    Extra keyword arguments beyond the reference:
      paths_per_step: k ≥ 1 distinct paths per training call; the loss is their mean.
      eval_paths: paths used in ``eval()`` mode when no ``path_idx`` is given: "all", a count k (k evenly
        spread paths) or a list of indices; the mean over them is returned and no sampler state changes.
      sampling_seed: if set, the draw at training step t uses a generator seeded from (sampling_seed, t),
        so runs are reproducible and all ranks of a distributed run draw the same path.  Under an
        initialised ``torch.distributed`` process group it defaults to 0.
      saga_denominator: "paper" (default: the paper's P-SAGA average) or "reference" (reproduces scrapl-loss
        0.1.0's denominator on revisits, REFERENCE §2.5); see ``PathwiseGradTransform``.
      table_dtype: storage dtype of the P-Adam/P-SAGA path tables (bfloat16/float16 save memory).
    """

    def __init__(
        self,
        shape: int,
        J: int,
        Q1: int,
        Q2: int,
        J_fr: int,
        Q_fr: int,
        T: int | str | None = None,
        F: int | str | None = None,
        p: float = 2,
        use_rho_log1p: bool = False,
        log1p_eps: float = 1e-3,
        grad_mult: float = 1e8,
        use_p_adam: bool = True,
        use_p_saga: bool = True,
        sample_all_paths_first: bool = False,
        n_theta: int = 1,
        min_prob_frac: float = 0.0,
        probs_path: str | None = None,
        eps: float = 1e-12,
        p_adam_b1: float = 0.9,
        p_adam_b2: float = 0.999,
        p_adam_eps: float = 1e-8,
        *,
        paths_per_step: int = 1,
        eval_paths: int | str | Sequence[int] = 8,
        sampling_seed: int | None = None,
        saga_denominator: Literal["paper", "reference"] = "paper",
        table_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if not p > 0:
            raise ValueError(f"p must be > 0, got {p}")
        if not log1p_eps > 0:
            raise ValueError(f"log1p_eps must be > 0, got {log1p_eps}")
        if use_p_adam and not use_rho_log1p and not grad_mult > 1.0:
            raise ValueError(
                f"grad_mult={grad_mult}: P-Adam without use_rho_log1p needs grad_mult > 1 "
                "to avoid float precision errors"
            )
        if n_theta < 1:
            raise ValueError(f"n_theta must be >= 1, got {n_theta}")
        if not 0.0 <= min_prob_frac < 1.0:
            raise ValueError(f"min_prob_frac must be in [0, 1), got {min_prob_frac}")
        if isinstance(paths_per_step, bool) or not isinstance(paths_per_step, int) or paths_per_step < 1:
            raise ValueError(f"paths_per_step must be an integer >= 1, got {paths_per_step!r}")
        if saga_denominator not in ("paper", "reference"):
            raise ValueError(f"saga_denominator must be 'paper' or 'reference', got {saga_denominator!r}")
        self.shape, self.J, self.Q1, self.Q2, self.J_fr, self.Q_fr, self.T, self.F = (
            shape, J, Q1, Q2, J_fr, Q_fr, T, F
        )
        self.p = p
        self.use_rho_log1p = use_rho_log1p
        self.log1p_eps = log1p_eps
        self.grad_mult = grad_mult
        self.use_p_adam = use_p_adam
        self.use_p_saga = use_p_saga
        self.sample_all_paths_first = sample_all_paths_first
        self.n_theta = n_theta
        self.min_prob_frac = min_prob_frac
        self.eps = eps
        self.p_adam_b1, self.p_adam_b2, self.p_adam_eps = p_adam_b1, p_adam_b2, p_adam_eps
        self.paths_per_step = paths_per_step
        self.sampling_seed = sampling_seed
        self.saga_denominator = saga_denominator
        self.table_dtype = table_dtype
        self._init_grad_state()

        self.jtfs = JTFS(shape, J, Q1, Q2, J_fr, Q_fr, T=T, F=F)
        self.meta = self.jtfs.meta
        self.scrapl_keys: list[tuple[int, int]] = list(self.jtfs.scrapl_keys)
        self.n_paths = len(self.scrapl_keys)
        self.unif_prob = 1.0 / self.n_paths
        self.eval_path_indices = sampling.eval_path_set(eval_paths, self.n_paths)
        self.eval_paths = eval_paths

        self.curr_path_idx: int | None = None
        self.curr_path_indices: list[int] = []
        self.path_counts: defaultdict[int, int] = defaultdict(int)
        self.unsampled_paths: list[int] = list(range(self.n_paths))
        self.rand_gen = torch.Generator(device="cpu")
        self.scrapl_t = 0
        self.loaded_probs_path: str | None = None
        self._init_probs_state()
        if probs_path is not None:
            self.load_probs(probs_path)
        log.info(
            "SCRAPLLoss: J=%d Q1=%d Q2=%d J_fr=%d Q_fr=%d T=%s F=%s, %d paths, %d per step",
            J, Q1, Q2, J_fr, Q_fr, T, F, self.n_paths, paths_per_step,
        )

    # Sampling -------------------------------------------------------------------------------------
    def _generator(self, seed: int | None) -> torch.Generator | None:
        """Generator for this draw: re-seeded private one (explicit or step seed), or None = global RNG."""
        base = self.sampling_seed
        if base is None and torch.distributed.is_available() and torch.distributed.is_initialized():
            base = 0
        if seed is None and base is None:
            return None
        self.rand_gen.manual_seed(seed if seed is not None else sampling.step_seed(base, self.scrapl_t))
        return self.rand_gen

    def sample_paths(self, k: int | None = None, seed: int | None = None) -> list[int]:
        """Draw ``k`` (default ``paths_per_step``) distinct path indices by the reference rule (§2.2)."""
        k = self.paths_per_step if k is None else k
        visit_all_first = self.sample_all_paths_first and len(self.path_counts) < self.n_paths
        gen = self._generator(seed)
        return sampling.draw_paths(self.probs, k, self.unsampled_paths, visit_all_first, gen)

    def sample_path(self, seed: int | None = None) -> int:
        """Draw one path index (reference API)."""
        return self.sample_paths(1, seed)[0]

    def load_probs(self, probs_path: str) -> None:
        """Load sampling probabilities, a (P,) tensor saved with ``torch.save``."""
        if not os.path.isfile(probs_path):
            raise FileNotFoundError(f"probs_path {probs_path!r} does not exist")
        probs = torch.load(probs_path, weights_only=True)
        if not isinstance(probs, torch.Tensor):
            raise ValueError(f"probs_path {probs_path!r} does not hold a tensor")
        probs = probs.detach().double().cpu()
        self.check_probs(probs, self.n_paths, max(self.eps, 1e-6))
        self.probs = probs
        self.loaded_probs_path = probs_path
        log.info("Loaded probs from %s: min %.6f, max %.6f", probs_path, probs.min(), probs.max())

    # Distance -------------------------------------------------------------------------------------
    @property
    def _filters_like(self) -> torch.Tensor:
        """A JTFS filter buffer: inputs must share its dtype and device."""
        return self.jtfs.like()

    def _rho(self, s: torch.Tensor) -> torch.Tensor:
        return torch.log1p(s / self.log1p_eps) if self.use_rho_log1p else s

    def _coeffs(self, x: torch.Tensor, paths: list[int]) -> list[torch.Tensor]:
        """ρ(S_p x), each (B', 1, F', T'), for each path p of x (B', N): one scalogram for all paths."""
        return [self._rho(s) for s in self.jtfs.paths(x, paths)]

    def _target_coeffs(self, x_target: torch.Tensor, paths: list[int]) -> list[torch.Tensor]:
        """:meth:`_coeffs` of the target, without autograd unless ``x_target`` requires grad (as in the
        θ-IS warm-up, where the synthesised signal is the second argument)."""
        with torch.set_grad_enabled(x_target.requires_grad and torch.is_grad_enabled()):
            return self._coeffs(x_target, paths)

    def _path_pairs(
        self, x: torch.Tensor, x_target: torch.Tensor, paths: list[int]
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(ρ(S_p x), ρ(S_p x_target)) for each path p; x, x_target (B', N)."""
        return list(zip(self._coeffs(x, paths), self._target_coeffs(x_target, paths), strict=True))

    def _dist(self, sx: torch.Tensor, st: torch.Tensor) -> torch.Tensor:
        """Per-example p-norm of (st - sx) over (freq, time): (B', 1)."""
        return torch.linalg.vector_norm(st - sx, ord=self.p, dim=(-2, -1))

    def calc_dist(
        self, x: torch.Tensor, x_target: torch.Tensor, path_idx: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distance on one path and the (ρ-scaled) coefficients (B·C, 1, F', T') of x and x_target."""
        check_signal_pair(x, x_target, self.shape, self._filters_like)
        (p,) = check_path_indices(path_idx, self.n_paths)
        ((sx, st),) = self._path_pairs(x.reshape(-1, self.shape), x_target.reshape(-1, self.shape), [p])
        return self._dist(sx, st).mean(), sx, st

    def path_dists(self, x: torch.Tensor, x_target: torch.Tensor, paths: Sequence[int]) -> torch.Tensor:
        """Per-path, per-example distances (P', B·C) of x and x_target (B, C, N), one scalogram per signal.

        ``x`` may stack K candidates (K, B, C, N) against the one target: (K, P', B·C), the target
        transformed once.  For loss landscapes and descent votes (``forward`` is the mean of these over
        paths and examples)."""
        many = x.ndim == 4
        xs = list(x) if many else [x]
        for xk in xs:
            check_signal_pair(xk, x_target, self.shape, self._filters_like)
        ps = check_path_indices(list(paths), self.n_paths)
        st = self._target_coeffs(x_target.reshape(-1, self.shape), ps)
        rows = []
        for xk in xs:
            pairs = zip(self._coeffs(xk.reshape(-1, self.shape), ps), st, strict=True)
            rows.append(torch.stack([self._dist(sx, t)[:, 0] for sx, t in pairs]))
        out = torch.stack(rows)
        return out if many else out[0]

    def forward(
        self,
        x: torch.Tensor,
        x_target: torch.Tensor,
        seed: int | None = None,
        path_idx: int | Sequence[int] | None = None,
    ) -> torch.Tensor:
        """SCRAPL distance between x and x_target, both (B, C, N); returns a scalar.

        Training mode: ``paths_per_step`` sampled paths (or ``path_idx``); counters advance.
        Eval mode: ``path_idx`` if given, else the fixed ``eval_paths`` set; no sampler state changes.
        """
        check_signal_pair(x, x_target, self.shape, self._filters_like)
        if path_idx is not None:
            paths = check_path_indices(path_idx, self.n_paths)
            if seed is not None:
                log.warning("seed is ignored when path_idx is specified")
        elif self.training:
            paths = self.sample_paths(seed=seed)
        else:
            paths = self.eval_path_indices
        pairs = self._path_pairs(x.reshape(-1, self.shape), x_target.reshape(-1, self.shape), paths)
        dists = torch.stack([self._dist(sx, st)[:, 0] for sx, st in pairs])  # (k, B·C)
        dist = dists.mean()
        if self.training or path_idx is not None:
            self.curr_path_idx, self.curr_path_indices = paths[0], paths
        if self.training:
            for q in paths:
                self.path_counts[q] += 1
            self.scrapl_t += 1
            self._set_pathwise_paths(paths)
        return dist

    # State ----------------------------------------------------------------------------------------
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """Own bookkeeping (counters, sampler, probs) as tensors/plain values; no JTFS filters."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for key, value in state.export_state(self).items():
            destination[prefix + key] = value

    def _load_from_state_dict(
        self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
        missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str],
    ) -> None:
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )
        ours = {prefix + k for k in (*state.REFERENCE_KEYS, *state.EXTRA_KEYS)}
        unexpected_keys[:] = [k for k in unexpected_keys if k not in ours]
        missing = [prefix + k for k in state.REFERENCE_KEYS if prefix + k not in state_dict]
        if missing:
            missing_keys.extend(missing)
            return
        if self.pathwise is None and any(k.startswith(prefix + "pathwise.") for k in state_dict):
            error_msgs.append("state_dict holds P-Adam/P-SAGA state: call attach_params() before loading")
        state.import_state(self, {k[len(prefix):]: v for k, v in state_dict.items() if k.startswith(prefix)})

    def clear(self) -> None:
        """Reset counters, sampler, attached params (hooks and path tables) and probabilities to uniform."""
        self.curr_path_idx, self.curr_path_indices = None, []
        self.path_counts.clear()
        self.unsampled_paths = list(range(self.n_paths))
        self.scrapl_t = 0
        self._detach_params()
        self.updated_path_indices.clear()
        self.all_log_vals.fill_(self.log_eps)
        self.all_log_probs.fill_(self.log_unif_prob)
        self._recompute_probs()
        self.loaded_probs_path = None
        log.info("Cleared SCRAPLLoss state")
