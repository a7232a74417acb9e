"""Gradient side of SCRAPLLoss: ``attach_params`` / ``grad_hook`` (scrapl-loss 0.1.0 API) on top of
:class:`scrapl_live.loss.pathwise.PathwiseGradTransform`, plus the optimizer-side ``transform_grads``.

The transform is registered as the sub-module ``pathwise``, so its moments, last-visit times and SAGA
memory/sums are in ``state_dict()`` and follow ``.to()``.  Tables are allocated only for the enabled
features (the reference always allocates three P×|w| float32 tables).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from scrapl_live.loss.pathwise import PathwiseGradTransform, adam_grad_norm_cont

log = logging.getLogger(__name__)


class PathwiseGradMixin(nn.Module):
    """Attach/detach parameters and rewrite their gradients with P-Adam / P-SAGA (REFERENCE §2.3-2.5).

    Expects on the host module: n_paths, grad_mult, use_p_adam, use_p_saga, p_adam_b1/b2/eps,
    saga_denominator, table_dtype, curr_path_indices, path_counts.
    """

    adam_grad_norm_cont = staticmethod(adam_grad_norm_cont)

    def _init_grad_state(self) -> None:
        self.attached_params: list[torch.Tensor] = []
        self.hook_handles: list[RemovableHandle] = []
        self.pathwise: PathwiseGradTransform | None = None
        self._pathwise_step: int | None = None

    def attach_params(self, params: Iterable[torch.Tensor], hooks: bool = True) -> None:
        """Attach the parameters whose gradients P-Adam/P-SAGA (and ``grad_mult``) rewrite.

        hooks=True: tensor hooks rewrite the gradient during backward in training mode (scrapl-loss
        behaviour; plain SGD then applies it).  hooks=False: call :meth:`transform_grads` after backward
        (and after DDP all-reduce / grad accumulation / AMP unscale) instead.  ``[]`` detaches.
        """
        self._detach_params()
        params = list(params)
        if not params:
            log.info("Detached all parameters")
            return
        self.pathwise = PathwiseGradTransform(
            params, self.n_paths, use_p_adam=self.use_p_adam, use_p_saga=self.use_p_saga,
            b1=self.p_adam_b1, b2=self.p_adam_b2, eps=self.p_adam_eps, grad_mult=self.grad_mult,
            saga_denominator=self.saga_denominator, table_dtype=self.table_dtype,
        )
        self.attached_params = params
        if hooks:
            self.hook_handles = [
                p.register_hook(functools.partial(self.grad_hook, param_idx=i)) for i, p in enumerate(params)
            ]
        log.info(
            "Attached %d parameter tensors (%d weights), path tables %.1f MB",
            len(params), sum(p.numel() for p in params), self.pathwise.table_bytes() / 2**20,
        )

    def _detach_params(self) -> None:
        for handle in self.hook_handles:
            handle.remove()
        self.hook_handles = []
        self.attached_params = []
        self.pathwise = None
        self._pathwise_step = None

    def _set_pathwise_paths(self, paths: list[int]) -> None:
        """Called by a training forward: the clock is the number of path visits so far plus one.

        For one path per step this is the reference's ``scrapl_t + 1``.
        """
        self._pathwise_step = sum(self.path_counts.values()) + 1
        if self.pathwise is not None and self.hook_handles:
            self.pathwise.set_paths(paths, self._pathwise_step)

    def grad_hook(self, grad: torch.Tensor, param_idx: int) -> torch.Tensor:
        """Rewritten gradient of attached parameter ``param_idx`` (identity outside training mode)."""
        if not self.training or self.pathwise is None:
            return grad
        if self._pathwise_step is None:
            raise ValueError("grad_hook: no training forward has set the current path yet")
        return self.pathwise.hook(param_idx)(grad)

    def transform_grads(self) -> None:
        """Optimizer-side P-Adam/P-SAGA: rewrite attached params' ``.grad`` for the last forward's paths."""
        if self.pathwise is None:
            raise ValueError("transform_grads: no params attached (call attach_params(params, hooks=False))")
        if self.hook_handles:
            raise ValueError("transform_grads: params attached with hooks=True, gradients already rewritten")
        if self._pathwise_step is None:
            raise ValueError("transform_grads: call the loss in training mode before transforming gradients")
        self.pathwise.transform(self.curr_path_indices, self._pathwise_step)

    # Reference attribute views ---------------------------------------------------------------------
    def _tables(self, prefix: str) -> dict[int, torch.Tensor]:
        if self.pathwise is None:
            return {}
        return {i: getattr(self.pathwise, f"{prefix}_{i}") for i in range(len(self.attached_params))
                if hasattr(self.pathwise, f"{prefix}_{i}")}

    @property
    def p_adam_m(self) -> dict[int, torch.Tensor]:
        """First moments per parameter index, each (P, *shape)."""
        return self._tables("adam_m")

    @property
    def p_adam_v(self) -> dict[int, torch.Tensor]:
        """Second moments per parameter index, each (P, *shape)."""
        return self._tables("adam_v")

    @property
    def prev_path_grads(self) -> dict[int, torch.Tensor]:
        """P-SAGA memory per parameter index, each (P, *shape)."""
        return self._tables("saga_mem")

    @property
    def p_adam_t(self) -> torch.Tensor | None:
        """Last-visit clock (n_params, P) int64: ``p_adam_t[param_idx][path_idx]`` as in the reference."""
        return None if self.pathwise is None or not self.use_p_adam else self.pathwise.adam_tau
