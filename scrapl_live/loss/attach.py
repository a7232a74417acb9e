"""P-Adam/P-SAGA on a SCRAPLLoss's attached parameters, with the scrapl-loss 0.1.0 method names (its
``attach_params``, ``grad_hook``, ``p_adam_m``/``p_adam_v``/``p_adam_t``/``prev_path_grads``).

Functions of the loss: they create, drive and show its
:class:`~scrapl_live.loss.pathwise.PathwiseGradTransform` (``loss.pathwise``, whose buffers are the
``pathwise.*`` entries of the loss's state dict), its hook handles and the P-Adam clock of the last
training forward (docs/method.md#p-adam, #p-saga).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

import torch

from scrapl_live.loss.pathwise import PathwiseGradTransform

if TYPE_CHECKING:
    from scrapl_live.loss.scrapl import SCRAPLLoss

log = logging.getLogger(__name__)


def attach_params(loss: SCRAPLLoss, params: Iterable[torch.Tensor], hooks: bool = True) -> None:
    """Attach the parameters whose gradients P-Adam/P-SAGA (and ``grad_mult``) rewrite; ``[]`` detaches.

    hooks=True: tensor hooks rewrite each gradient during backward in training mode (scrapl-loss
    behaviour; plain SGD then applies it).  hooks=False: call :meth:`transform_grads` after backward
    (and after a DDP all-reduce / gradient accumulation / AMP unscale) instead.
    """
    detach_params(loss)
    params = list(params)
    if not params:
        log.info("Detached all parameters")
        return
    loss.pathwise = PathwiseGradTransform(
        params, loss.n_paths, use_p_adam=loss.use_p_adam, use_p_saga=loss.use_p_saga, b1=loss.p_adam_b1,
        b2=loss.p_adam_b2, eps=loss.p_adam_eps, grad_mult=loss.grad_mult,
        saga_denominator=loss.saga_denominator, table_dtype=loss.table_dtype,
    )
    loss.attached_params = params
    if hooks:
        loss.hook_handles = [p.register_hook(functools.partial(loss.grad_hook, param_idx=i))
                             for i, p in enumerate(params)]
    log.info("Attached %d parameter tensors (%d weights), path tables %.1f MB", len(params),
             sum(p.numel() for p in params), loss.pathwise.table_bytes() / 2**20)


def detach_params(loss: SCRAPLLoss) -> None:
    """Remove the hooks and drop the attached params and their path tables."""
    for handle in loss.hook_handles:
        handle.remove()
    loss.hook_handles, loss.attached_params = [], []
    loss.pathwise, loss._pathwise_step = None, None


def set_pathwise_paths(loss: SCRAPLLoss, paths: list[int]) -> None:
    """After a training forward: the P-Adam clock is the number of path visits so far plus one (for one
    path per step scrapl-loss's ``scrapl_t + 1``)."""
    loss._pathwise_step = loss.sampler.visits + 1
    if loss.pathwise is not None and loss.hook_handles:
        loss.pathwise.set_paths(paths, loss._pathwise_step)


def grad_hook(loss: SCRAPLLoss, grad: torch.Tensor, param_idx: int) -> torch.Tensor:
    """Rewritten gradient of attached parameter ``param_idx`` (identity outside training mode)."""
    if not loss.training or loss.pathwise is None:
        return grad
    if loss._pathwise_step is None:
        raise ValueError("grad_hook: no training forward has set the current path yet")
    return loss.pathwise.hook(param_idx)(grad)


def transform_grads(loss: SCRAPLLoss) -> None:
    """Optimizer-side P-Adam/P-SAGA: rewrite attached params' ``.grad`` for the last forward's paths."""
    if loss.pathwise is None:
        raise ValueError("transform_grads: no params attached (call attach_params(params, hooks=False))")
    if loss.hook_handles:
        raise ValueError("transform_grads: params attached with hooks=True, gradients already rewritten")
    if loss._pathwise_step is None:
        raise ValueError("transform_grads: call the loss in training mode before transforming gradients")
    loss.pathwise.transform(loss.curr_path_indices, loss._pathwise_step)


def _tables(loss: SCRAPLLoss, prefix: str) -> dict[int, torch.Tensor]:
    if loss.pathwise is None:
        return {}
    names = ((i, f"{prefix}_{i}") for i in range(len(loss.attached_params)))
    return {i: getattr(loss.pathwise, name) for i, name in names if hasattr(loss.pathwise, name)}


p_adam_m = property(lambda self: _tables(self, "adam_m"), doc="P-Adam 1st moments {param: (P, *shape)}")
p_adam_v = property(lambda self: _tables(self, "adam_v"), doc="P-Adam 2nd moments {param: (P, *shape)}")
prev_path_grads = property(lambda self: _tables(self, "saga_mem"), doc="P-SAGA rows {param: (P, *shape)}")


@property
def p_adam_t(loss: SCRAPLLoss) -> torch.Tensor | None:
    """Last-visit clock (n_params, P) int64: ``p_adam_t[param_idx][path_idx]`` as in scrapl-loss."""
    return None if loss.pathwise is None or not loss.use_p_adam else loss.pathwise.adam_tau
