"""P-Adam and P-SAGA: path-wise gradient transforms in O(|w|) per step (docs/method.md#p-adam, #p-saga).

Per parameter tensor w, SCRAPL keeps one Adam moment pair (P-Adam) and one SAGA memory row (P-SAGA)
per scattering path, so the gradient of a step that visited path p is rewritten as

  P-Adam:  Δ = (t - τ_p)/P;  m_p ← β1^Δ m_p + (1-β1^Δ) g;  v_p ← β2^Δ v_p + (1-β2^Δ) g²;
           ĝ = [m_p / (1-β1^(t/P))] / (sqrt(v_p / (1-β2^(t/P))) + ε);  τ_p ← t
  P-SAGA:  g_out = ĝ - M_p + S / d;  S ← S - M_p + ĝ;  M_p ← ĝ        (S = Σ_q M_q, a running sum)

and the downstream optimizer must be plain SGD (momentum 0, weight decay allowed).  The running sum S
(float64) replaces the reference's O(P·|w|) re-summation; tables exist only for enabled features.

SAGA denominator d: ``"paper"`` = max(1, |Γ|) with Γ the paths visited before this step (the average
of the stored rows, which includes p's old row on a revisit, as in SAGA); ``"reference"`` = the
scrapl-loss 0.1.0 value max(1, n - 1), n = |Γ ∪ {p}| (over-scales revisits by |Γ|/(|Γ|-1)).

Several paths per step (``path_idx`` a sequence K of k distinct paths; the gradient g is that of the
mean of their losses): each p ∈ K takes g as its sample.  P-Adam updates every (m_p, v_p, τ_p) with g
and averages the normalised outputs, ĝ = mean_p ĝ_p; P-SAGA is the mini-batch SAGA estimator
g_out = mean_p (ĝ_p - M_p) + S/d, then M_p ← ĝ_p for each p.  For k = 1 this is the single-path rule.

Clock: ``step`` is t above, an integer ≥ 1 that never decreases.  scrapl-loss uses t = k + 1 for the
k-th training forward (its ``scrapl_t + 1`` after the forward incremented ``scrapl_t``); a caller
reproduces it by passing ``step = scrapl_t + 1``.  With k paths per step, pass t counted in path visits
(e.g. t = k·(s + 1) at step s) so that Δ keeps its meaning of "revisits per path".

Two equivalent ways to apply (same numbers):
  * optimizer side: ``transform(path_idx, step)`` after backward (and after DDP all-reduce / gradient
    accumulation / AMP unscale), before ``optimizer.step()``; rewrites ``p.grad`` in place.
  * tensor hooks (scrapl-loss ``attach_params`` style): ``p.register_hook(t.hook(i))`` for each param,
    ``set_paths(path_idx, step)`` before backward; the hook is a no-op while no path is set
    (``clear_paths()``), e.g. in eval mode.  Hooks fire on every backward through the params.

State (moments, τ, SAGA rows, running sums, visited mask, last step) is held in buffers, so
``state_dict()``/``load_state_dict()`` resume exactly and ``.to(device)`` moves it.  The state dict
holds only the visited rows of each P-row table plus their indices ``table_rows_i``
(:func:`scrapl_live.loss.state.compact_rows`; unvisited rows are zero): k/P of the table size after k
distinct paths; full-table state dicts load too.  ``table_dtype``
(bfloat16/float16) stores the P-row tables in reduced precision while computing in float32: half the
memory; measured output error vs float32 tables (rel. L2 over 300 steps, benchmarks/bench_pathwise.py)
bf16 median 4.5e-3 / max 1.6e-2, fp16 5.7e-4 / 2.0e-3.  float16 overflows once |grad_mult·g| > 256
(v > 65504), so bfloat16 is the safe choice.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from scrapl_live.loss import state
from scrapl_live.loss.adam import adam_inplace
from scrapl_live.loss.validation import check_path_indices, check_pathwise_args


class PathwiseGradTransform(nn.Module):
    """P-Adam / P-SAGA state for ``params`` and ``n_paths`` paths (module docstring has the rules).

    Args:
        params: the parameter tensors whose gradients are rewritten (any shapes s_i).
        n_paths: number of scattering paths P (one table row per path).
        use_p_adam: keep per-path Adam moments and normalise the gradient with them.
        use_p_saga: keep per-path SAGA memory rows and their running sum.
        b1, b2, eps: P-Adam's β1, β2 in [0, 1) and ε > 0.
        grad_mult: factor on the incoming gradient before P-Adam (finite, > 0).
        saga_denominator: "paper" (max(1, |Γ|)) or "reference" (scrapl-loss 0.1.0's max(1, n - 1)).
        table_dtype: storage dtype of the P-row tables (float32, float64, bfloat16 or float16).

    Buffers per parameter tensor i (shape s): ``adam_m_i``, ``adam_v_i`` (P, *s) and shared
    ``adam_tau`` (n_params, P) int64 if P-Adam; ``saga_mem_i`` (P, *s), ``saga_sum_i`` (*s) float64 and
    ``saga_visited`` (n_params, P) bool if P-SAGA; ``last_step`` () int64 always.
    """

    def __init__(
        self,
        params: Sequence[torch.Tensor],
        n_paths: int,
        use_p_adam: bool = True,
        use_p_saga: bool = True,
        b1: float = 0.9,
        b2: float = 0.999,
        eps: float = 1e-8,
        grad_mult: float = 1.0,
        saga_denominator: Literal["paper", "reference"] = "paper",
        table_dtype: torch.dtype = torch.float32,
    ) -> None:
        super().__init__()
        params = list(params)
        check_pathwise_args(params, n_paths, b1, b2, eps, grad_mult, saga_denominator, table_dtype)
        self.params = params
        self.n_paths = n_paths
        self.use_p_adam = use_p_adam
        self.use_p_saga = use_p_saga
        self.b1, self.b2, self.eps = b1, b2, eps
        self.grad_mult = grad_mult
        self.saga_denominator = saga_denominator
        self.table_dtype = table_dtype
        self._current: tuple[list[int], int] | None = None
        # host-side mirrors of adam_tau / saga_visited / last_step (no device syncs per step);
        # rebuilt from the buffers after a state load
        self._tau_py: list[list[int]] | None = None
        self._visited_py: list[set[int]] | None = None
        self._last_step_py: int | None = None
        n = len(params)
        dev = params[0].device
        self.register_buffer("last_step", torch.zeros((), dtype=torch.int64, device=dev))
        if use_p_adam:
            self.register_buffer("adam_tau", torch.zeros(n, n_paths, dtype=torch.int64, device=dev))
        if use_p_saga:
            self.register_buffer("saga_visited", torch.zeros(n, n_paths, dtype=torch.bool, device=dev))
        for i, p in enumerate(params):
            table = (n_paths, *p.shape)
            kw = {"dtype": table_dtype, "device": p.device}
            if use_p_adam:
                self.register_buffer(f"adam_m_{i}", torch.zeros(table, **kw))
                self.register_buffer(f"adam_v_{i}", torch.zeros(table, **kw))
            if use_p_saga:
                self.register_buffer(f"saga_mem_{i}", torch.zeros(table, **kw))
                total = torch.zeros(p.shape, dtype=torch.float64, device=p.device)
                self.register_buffer(f"saga_sum_{i}", total)

    def table_bytes(self) -> int:
        """Bytes held by all state buffers."""
        return sum(b.numel() * b.element_size() for b in self.buffers())

    # Application ----------------------------------------------------------------------------------
    def _check_call(self, path_idx: int | Sequence[int] | torch.Tensor, step: int) -> tuple[list[int], int]:
        paths = check_path_indices(path_idx, self.n_paths)
        if len(set(paths)) != len(paths):
            raise ValueError(f"path_idx must hold distinct paths, got {paths}")
        if isinstance(step, bool) or not isinstance(step, int) or step < 1:
            raise ValueError(f"step must be an integer >= 1, got {step!r}")
        self._sync_mirrors()
        if step < self._last_step_py:
            raise ValueError(f"step={step} is before the last step {self._last_step_py} (clock goes back)")
        return paths, step

    def _sync_mirrors(self) -> None:
        if self._last_step_py is None:
            self._last_step_py = int(self.last_step)
            self._tau_py = self.adam_tau.tolist() if self.use_p_adam else None
            vis = self.saga_visited.cpu() if self.use_p_saga else None
            self._visited_py = None if vis is None else [set(row.nonzero().flatten().tolist()) for row in vis]

    def _set_last_step(self, step: int) -> None:
        self._last_step_py = step
        self.last_step.fill_(step)

    def set_paths(self, path_idx: int | Sequence[int] | torch.Tensor, step: int) -> None:
        """Set the path(s) and clock the hooks use for the next backward pass."""
        self._current = self._check_call(path_idx, step)
        self._set_last_step(step)

    def clear_paths(self) -> None:
        """Make the hooks pass gradients through unchanged (e.g. in eval mode)."""
        self._current = None

    def hook(self, param_index: int) -> Callable[[torch.Tensor], torch.Tensor]:
        """Tensor hook for ``params[param_index]`` using the paths/step given to :meth:`set_paths`."""
        if not 0 <= param_index < len(self.params):
            raise ValueError(f"param_index={param_index} is out of range [0, {len(self.params)})")

        def _hook(grad: torch.Tensor) -> torch.Tensor:
            if self._current is None:
                return grad
            return self._apply_one(param_index, grad, *self._current)

        return _hook

    def register_hooks(self) -> list[RemovableHandle]:
        """Register :meth:`hook` on every parameter; returns the handles (call ``.remove()`` to detach)."""
        return [p.register_hook(self.hook(i)) for i, p in enumerate(self.params)]

    def transform(self, path_idx: int | Sequence[int] | torch.Tensor, step: int) -> None:
        """Rewrite ``p.grad`` of every parameter in place for a step on ``path_idx`` at clock ``step``.

        Parameters whose ``grad`` is None are skipped (their state is untouched), like a hook that
        does not fire.  Raises ValueError on sparse or non-finite gradients.
        """
        paths, t = self._check_call(path_idx, step)
        grads = [(i, p.grad) for i, p in enumerate(self.params) if p.grad is not None]
        if any(g.is_sparse for _, g in grads):
            raise ValueError("params have sparse gradients, which P-Adam/P-SAGA do not support")
        if grads and not bool(torch.stack([g.sum() for _, g in grads]).isfinite().all()):
            raise ValueError("params' gradients contain NaN or infinite values")
        self._set_last_step(t)
        for i, g in grads:
            g.copy_(self._apply_one(i, g, paths, t))

    @torch.no_grad()
    def _apply_one(self, i: int, grad: torch.Tensor, paths: list[int], t: int) -> torch.Tensor:
        """Transformed gradient of parameter i (same shape/dtype as ``grad``); updates the state."""
        g = grad.float() * self.grad_mult if self.grad_mult != 1.0 else grad.float()
        g_hats = self._p_adam(i, g, paths, t) if self.use_p_adam else [g] * len(paths)
        out = torch.stack(g_hats).mean(0) if len(g_hats) > 1 else g_hats[0]
        if self.use_p_saga:
            out = self._p_saga(i, out, g_hats, paths)
        return out.to(grad.dtype)

    def _p_adam(self, i: int, g: torch.Tensor, paths: list[int], t: int) -> list[torch.Tensor]:
        m_tab, v_tab = getattr(self, f"adam_m_{i}"), getattr(self, f"adam_v_{i}")
        tau, n = self._tau_py[i], self.n_paths
        exact = m_tab.dtype == torch.float32
        g_hats = []
        for p in paths:
            m, v = (m_tab[p], v_tab[p]) if exact else (m_tab[p].float(), v_tab[p].float())
            g_hats.append(adam_inplace(g, m, v, t / n, tau[p] / n, self.b1, self.b2, self.eps))
            if not exact:
                m_tab[p].copy_(m)
                v_tab[p].copy_(v)
            tau[p] = t
        self.adam_tau[i, paths] = t
        return g_hats

    def _p_saga(
        self, i: int, g_mean: torch.Tensor, g_hats: list[torch.Tensor], paths: list[int]
    ) -> torch.Tensor:
        mem, total = getattr(self, f"saga_mem_{i}"), getattr(self, f"saga_sum_{i}")
        seen = self._visited_py[i]
        paper = self.saga_denominator == "paper"
        denom = max(1, len(seen)) if paper else max(1, len(seen.union(paths)) - 1)
        k = len(paths)
        # float32 passes; the float64 running sum receives each row change (rounded once to float32)
        out = torch.add(g_mean, total.float(), alpha=1 / denom)
        for p, g_hat in zip(paths, g_hats, strict=True):
            row = mem[p]
            out.sub_(row, alpha=1 / k)
            stored = g_hat if row.dtype == g_hat.dtype else g_hat.to(row.dtype).float()
            delta = stored - row.float()
            row.copy_(g_hat)
            total.add_(delta.double())
        seen.update(paths)
        self.saga_visited[i, paths] = True
        return out

    # State ----------------------------------------------------------------------------------------
    def _table_names(self, i: int) -> list[str]:
        """Names of parameter i's P-row tables (only the enabled features have them)."""
        names = [f"adam_m_{i}", f"adam_v_{i}"] if self.use_p_adam else []
        return names + [f"saga_mem_{i}"] if self.use_p_saga else names

    def _save_to_state_dict(self, destination: dict, prefix: str, keep_vars: bool) -> None:
        """All buffers, each P-row table cut to the rows of the paths visited so far (τ > 0 / SAGA mask)."""
        super()._save_to_state_dict(destination, prefix, keep_vars)
        for i in range(len(self.params)):
            if self._table_names(i):
                mask = self.adam_tau[i] > 0 if self.use_p_adam else self.saga_visited[i]
                state.compact_rows(destination, prefix, self._table_names(i), mask.nonzero().flatten(),
                                   f"table_rows_{i}")

    def _load_from_state_dict(
        self, state_dict: dict, prefix: str, local_metadata: dict, strict: bool,
        missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str],
    ) -> None:
        own = {k: v for k, v in state_dict.items() if k.startswith(prefix)}
        for i in range(len(self.params)):
            rows = own.pop(f"{prefix}table_rows_{i}", None)
            if rows is not None:  # compact form; without it the tables are full (P, *s)
                tables = {name: getattr(self, name) for name in self._table_names(i)}
                state.expand_rows(own, prefix, tables, rows, error_msgs)
        super()._load_from_state_dict(own, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)
        self._last_step_py = None  # mirrors are rebuilt from the loaded buffers on the next call

    def load_state_dict(self, state_dict: dict, strict: bool = True, assign: bool = False) -> object:
        """Load a state saved by :meth:`state_dict`; a mismatch (features, P, shapes) raises ValueError."""
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as exc:
            raise ValueError(f"state_dict does not match this PathwiseGradTransform: {exc}") from exc
