"""SCRAPLLoss: the JTFS distance on randomly sampled scattering paths, drop-in for scrapl-loss 0.1.0.

Composition: a :class:`~scrapl_live.loss.distance.JTFSDistance` (JTFS coefficients and ρ), a
:class:`~scrapl_live.loss.sampler.PathSampler` (which paths, their probabilities, counters and RNG), a
:class:`~scrapl_live.loss.pathwise.PathwiseGradTransform` once params are attached (P-Adam/P-SAGA,
driven by the functions of :mod:`scrapl_live.loss.attach`), and the θ-IS functions of
:mod:`scrapl_live.loss.theta_is`.  Per call, one first-order scalogram is
computed for ``x`` and one for ``x_target`` (the target without autograd unless it requires grad),
restricted to the bands the sampled paths need, and shared by the ``paths_per_step`` paths.  Value:
``mean_b || ρ(S_p x_target) - ρ(S_p x) ||_p``, averaged over the sampled paths (docs/method.md).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from scrapl_live.loss import attach, sampling, state, theta_is
from scrapl_live.loss.adam import adam_grad_norm_cont
from scrapl_live.loss.distance import JTFSDistance
from scrapl_live.loss.pathwise import PathwiseGradTransform
from scrapl_live.loss.probs import calc_log_probs, check_probs
from scrapl_live.loss.sampler import PathSampler
from scrapl_live.loss.validation import check_path_indices, check_saga_denominator, check_signal_pair
from scrapl_live.scattering.config import JTFSSettings

log = logging.getLogger(__name__)


def _of(part: str, name: str, doc: str) -> property:
    """Attribute ``name`` of the component ``part``, under scrapl-loss's name on the loss (get and set)."""
    return property(lambda self: getattr(getattr(self, part), name),
                    lambda self, value: setattr(getattr(self, part), name, value), doc=doc)


class SCRAPLLoss(nn.Module):
    """Scattering transform with random paths as a loss; constructor as scrapl-loss 0.1.0, plus extras.

    ``forward(x, x_target)`` takes (B, C, N) signals (x = prediction) and returns a scalar.

    Args:
        shape, J, Q1, Q2, J_fr, Q_fr, T, F: the JTFS (:class:`~scrapl_live.scattering.JTFSSettings`).
        p: order of the per-example norm over (frequency, time).
        use_rho_log1p: compress coefficients as ρ(S) = log1p(S / log1p_eps) before the distance.
        log1p_eps: the knee of ρ.
        grad_mult: factor on the attached params' gradients before P-Adam (avoids float32 underflow of
            squared tiny JTFS gradients); unused while no params are attached.
        use_p_adam: path-wise Adam on attached params (docs/method.md#p-adam).
        use_p_saga: path-wise SAGA on attached params (docs/method.md#p-saga).
        sample_all_paths_first: visit every path once before sampling from ``probs``.
        n_theta: θ dimensions U with their own θ-IS distribution.
        min_prob_frac: f ∈ [0, 1): the θ-IS distributions are mixed as (1-f)·π + f/P.
        probs_path: a (P,) probability tensor file (``torch.save``) to sample from.
        eps: floor of the θ-IS values and tolerance of the probability checks.
        p_adam_b1, p_adam_b2, p_adam_eps: P-Adam's β1, β2, ε.
        paths_per_step: k ≥ 1 distinct paths per training call; the loss is their mean.
        eval_paths: paths used in ``eval()`` mode when no ``path_idx`` is given: "all", a count k (k evenly
            spread paths) or a list of indices; the mean over them is returned and no sampler state
            changes (scrapl-loss samples one random path in eval mode instead).
        sampling_seed: if set, the draw at training step t uses a generator seeded from (sampling_seed, t):
            reproducible runs, the same path on every rank (under ``torch.distributed`` it defaults to 0).
        saga_denominator: "reference" (default: scrapl-loss 0.1.0's P-SAGA average, max(1, n-1) with n
            the visited paths including the current one) or "paper" (the paper's max(1, |Γ|) over the
            paths visited before); see ``PathwiseGradTransform``.
        table_dtype: storage dtype of the P-Adam/P-SAGA path tables (bfloat16/float16 halve the memory).

    Attributes under the scrapl-loss names: the arguments, ``n_paths``, ``scrapl_keys``, ``meta``,
    ``jtfs``, the sampler's (``probs``, ``path_counts``, ``scrapl_t``, ...), ``attached_params``,
    ``hook_handles``, ``p_adam_m``/``p_adam_v``/``p_adam_t``/``prev_path_grads``.
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
        saga_denominator: Literal["paper", "reference"] = "reference",
        table_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        if use_p_adam and not use_rho_log1p and not grad_mult > 1.0:
            raise ValueError(f"grad_mult={grad_mult}: P-Adam without use_rho_log1p needs grad_mult > 1 "
                             "to avoid float precision errors")
        if isinstance(paths_per_step, bool) or not isinstance(paths_per_step, int) or paths_per_step < 1:
            raise ValueError(f"paths_per_step must be an integer >= 1, got {paths_per_step!r}")
        check_saga_denominator(saga_denominator)
        self.settings = JTFSSettings(shape, J, Q1, Q2, J_fr, Q_fr, T, F)
        self.distance = JTFSDistance(self.settings, p, use_rho_log1p, log1p_eps)
        self.grad_mult, self.use_p_adam, self.use_p_saga = grad_mult, use_p_adam, use_p_saga
        self.p_adam_b1, self.p_adam_b2, self.p_adam_eps = p_adam_b1, p_adam_b2, p_adam_eps
        self.paths_per_step, self.saga_denominator = paths_per_step, saga_denominator
        self.table_dtype = table_dtype
        self.meta = self.jtfs.meta
        self.scrapl_keys: list[tuple[int, int]] = list(self.jtfs.scrapl_keys)
        self.n_paths = len(self.scrapl_keys)
        self.sampler = PathSampler(self.n_paths, n_theta, min_prob_frac, eps, sample_all_paths_first,
                                   sampling_seed)
        self.eval_paths = eval_paths
        self.eval_path_indices = sampling.eval_path_set(eval_paths, self.n_paths)
        self.attached_params: list[torch.Tensor] = []
        self.hook_handles: list[RemovableHandle] = []
        self.pathwise: PathwiseGradTransform | None = None
        self._pathwise_step: int | None = None
        if probs_path is not None:
            self.load_probs(probs_path)
        log.info("SCRAPLLoss: J=%d Q1=%d Q2=%d J_fr=%d Q_fr=%d T=%s F=%s, %d paths, %d per step",
                 J, Q1, Q2, J_fr, Q_fr, T, F, self.n_paths, paths_per_step)

    # scrapl-loss attribute names --------------------------------------------------------------------
    shape = _of("settings", "shape", "signal length N")
    J, Q1, Q2 = (_of("settings", n, "JTFS setting") for n in ("J", "Q1", "Q2"))
    J_fr, Q_fr, T, F = (_of("settings", n, "JTFS setting") for n in ("J_fr", "Q_fr", "T", "F"))
    jtfs = _of("distance", "jtfs", "the JTFS (``scattering_singlepath``, ``paths``, ``meta``, ...)")
    p = _of("distance", "p", "order of the norm over (frequency, time)")
    use_rho_log1p = _of("distance", "use_rho_log1p", "ρ = log1p(S / log1p_eps)")
    log1p_eps = _of("distance", "log1p_eps", "the knee of ρ")
    n_theta = _of("sampler", "n_theta", "θ dimensions U")
    min_prob_frac = _of("sampler", "min_prob_frac", "uniform share f of each θ-IS distribution")
    eps = _of("sampler", "eps", "floor of the θ-IS values")
    unif_prob = _of("sampler", "unif_prob", "1 / P")
    min_prob = _of("sampler", "min_prob", "f / P")
    sample_all_paths_first = _of("sampler", "sample_all_paths_first", "visit every path once first")
    sampling_seed = _of("sampler", "sampling_seed", "base seed of step-seeded draws (None: global RNG)")
    probs = _of("sampler", "probs", "sampling distribution (P,) float64")
    all_log_vals = _of("sampler", "all_log_vals", "θ-IS log values (U, P) float64")
    all_log_probs = _of("sampler", "all_log_probs", "θ-IS log probabilities (U, P) float64")
    updated_path_indices = _of("sampler", "updated_path_indices", "{u: paths with a θ-IS value}")
    loaded_probs_path = _of("sampler", "loaded_probs_path", "file of loaded probabilities, or None")
    path_counts = _of("sampler", "path_counts", "{path: training visits}")
    unsampled_paths = _of("sampler", "unsampled_paths", "paths not yet visited (sample_all_paths_first)")
    rand_gen = _of("sampler", "rand_gen", "the private generator of seeded draws")
    scrapl_t = _of("sampler", "scrapl_t", "training steps so far")
    curr_path_idx = _of("sampler", "curr_path_idx", "first path of the last training / path_idx call")
    curr_path_indices = _of("sampler", "curr_path_indices", "paths of the last training / path_idx call")

    calc_log_probs = staticmethod(calc_log_probs)
    check_probs = staticmethod(check_probs)
    adam_grad_norm_cont = staticmethod(adam_grad_norm_cont)
    check_is_deterministic = staticmethod(theta_is.check_is_deterministic)
    warmup_lc_hvp = theta_is.warmup
    calc_theta_eigs = theta_is.theta_eigs
    calc_theta_eigs_multibatch = theta_is.theta_eigs_multibatch
    load_probs_from_warmup_dir = theta_is.probs_from_warmup_dir

    # Sampling -------------------------------------------------------------------------------------
    def sample_paths(self, k: int | None = None, seed: int | None = None) -> list[int]:
        """Draw ``k`` (default ``paths_per_step``) distinct path indices (docs/method.md)."""
        return self.sampler.sample(self.paths_per_step if k is None else k, seed)

    def sample_path(self, seed: int | None = None) -> int:
        """Draw one path index (scrapl-loss API)."""
        return self.sampler.sample(1, seed)[0]

    def load_probs(self, probs_path: str) -> None:
        """Sample from the (P,) probability tensor saved with ``torch.save`` in ``probs_path``."""
        self.sampler.load_probs(probs_path)

    def update_prob(self, path_idx: int, val: float | torch.Tensor, theta_idx: int = 0) -> None:
        """Record θ-IS curvature ``val`` ≥ 0 of ``path_idx`` for θ dimension ``theta_idx``; update probs."""
        self.sampler.update_prob(path_idx, val, theta_idx)

    # Distance -------------------------------------------------------------------------------------
    def _check(self, x: torch.Tensor, x_target: torch.Tensor) -> None:
        check_signal_pair(x, x_target, self.shape, self.jtfs.like())

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(-1, self.shape)

    def calc_dist(self, x: torch.Tensor, x_target: torch.Tensor, path_idx: int
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Distance on one path and the ρ-scaled coefficients (B·C, 1, F', T') of x and x_target."""
        self._check(x, x_target)
        (p,) = check_path_indices(path_idx, self.n_paths)
        (sx,) = self.distance.coeffs(self._flat(x), [p])
        (st,) = self.distance.target_coeffs(self._flat(x_target), [p])
        return self.distance.dist(sx, st).mean(), sx, st

    def path_dists(self, x: torch.Tensor, x_target: torch.Tensor, paths: Sequence[int]) -> torch.Tensor:
        """Per-path, per-example distances (P', B·C) of x and x_target (B, C, N); counters untouched.

        ``x`` may stack K candidates (K, B, C, N) against the one target: (K, P', B·C), the target
        transformed once (loss landscapes; ``forward`` is the mean of these over paths and examples)."""
        many = x.ndim == 4
        xs = list(x) if many else [x]
        for xk in xs:
            self._check(xk, x_target)
        ps = check_path_indices(list(paths), self.n_paths)
        st = self.distance.target_coeffs(self._flat(x_target), ps)
        out = torch.stack([self.distance.path_dists(self._flat(xk), st, ps) for xk in xs])
        return out if many else out[0]

    def forward(self, x: torch.Tensor, x_target: torch.Tensor, seed: int | None = None,
                path_idx: int | Sequence[int] | None = None) -> torch.Tensor:
        """SCRAPL distance between x and x_target, both (B, C, N); returns a scalar.

        Training mode: ``paths_per_step`` sampled paths (or ``path_idx``); counters advance.
        Eval mode: ``path_idx`` if given, else the fixed ``eval_paths`` set; no sampler state changes.
        """
        self._check(x, x_target)
        if path_idx is not None:
            paths = check_path_indices(path_idx, self.n_paths)
            if seed is not None:
                log.warning("seed is ignored when path_idx is specified")
        elif self.training:
            paths = self.sample_paths(seed=seed)
        else:
            paths = self.eval_path_indices
        st = self.distance.target_coeffs(self._flat(x_target), paths)
        dist = self.distance.path_dists(self._flat(x), st, paths).mean()
        if self.training or path_idx is not None:
            self.sampler.record(paths, self.training)
        if self.training:
            self._set_pathwise_paths(paths)
        return dist

    # Gradients (P-Adam / P-SAGA) ------------------------------------------------------------------
    attach_params = attach.attach_params
    grad_hook = attach.grad_hook
    transform_grads = attach.transform_grads
    _set_pathwise_paths = attach.set_pathwise_paths
    p_adam_m, p_adam_v, p_adam_t = attach.p_adam_m, attach.p_adam_v, attach.p_adam_t
    prev_path_grads = attach.prev_path_grads

    # State ----------------------------------------------------------------------------------------
    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """The sampler's state (tensors and plain values) beside the P-Adam/P-SAGA tables; no filters."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for key, value in self.sampler.state_dict().items():
            destination[prefix + key] = value

    def _load_from_state_dict(self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
                              missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]
                              ) -> None:
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)
        ours = {prefix + k for k in (*state.REFERENCE_KEYS, *state.EXTRA_KEYS)}
        unexpected_keys[:] = [k for k in unexpected_keys if k not in ours]
        missing = [prefix + k for k in state.REFERENCE_KEYS if prefix + k not in state_dict]
        if missing:
            missing_keys.extend(missing)
            return
        if self.pathwise is None and any(k.startswith(prefix + "pathwise.") for k in state_dict):
            error_msgs.append("state_dict holds P-Adam/P-SAGA state: call attach_params() before loading")
        self.sampler.load_state_dict({k[len(prefix):]: v for k, v in state_dict.items()
                                      if k.startswith(prefix)})

    def clear(self) -> None:
        """Reset counters, sampler, attached params (hooks and path tables) and probabilities to uniform."""
        self.sampler.reset()
        attach.detach_params(self)
        log.info("Cleared SCRAPLLoss state")
