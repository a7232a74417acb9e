"""Argument checks for :class:`scrapl_live.loss.SCRAPLLoss` and its path-wise gradient transform.

Every check raises ``ValueError`` whose message names the offending argument, so a bad batch
fails loudly at the loss instead of deep inside the scattering transform.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import torch

TABLE_DTYPES = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
"""Storage dtypes of the P-Adam/P-SAGA path tables."""


def check_signal_pair(
    x: torch.Tensor, x_target: torch.Tensor, n_samples: int, like: torch.Tensor | None = None
) -> None:
    """Validate the two loss inputs: (B, C, N) floating tensors with N = ``n_samples``, equal shapes, one
    device and dtype (those of ``like``, e.g. a filter buffer, when given), finite values."""
    for name, t in (("x", x), ("x_target", x_target)):
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if t.ndim != 3:
            raise ValueError(f"{name} must have shape (batch, channels, samples), got ndim={t.ndim}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor, got dtype={t.dtype}")
        if t.shape[-1] != n_samples:
            raise ValueError(f"{name} has {t.shape[-1]} samples but the loss expects shape={n_samples}")
        if t.numel() == 0:
            raise ValueError(f"{name} is empty (shape {tuple(t.shape)})")
    if x.shape != x_target.shape:
        raise ValueError(f"x and x_target shapes differ: {tuple(x.shape)} vs {tuple(x_target.shape)}")
    if x.dtype != x_target.dtype:
        raise ValueError(f"x and x_target dtypes differ: {x.dtype} vs {x_target.dtype}")
    if x.device != x_target.device:
        raise ValueError(f"x and x_target are on different devices: {x.device} vs {x_target.device}")
    if like is not None and (x.dtype, x.device) != (like.dtype, like.device):
        raise ValueError(
            f"x and x_target must be {like.dtype} on {like.device} like the loss (move one of them), "
            f"got {x.dtype} on {x.device}"
        )
    for name, t in (("x", x), ("x_target", x_target)):
        if not bool(torch.isfinite(t.detach()).all()):
            raise ValueError(f"{name} contains NaN or infinite values")


def check_path_indices(path_idx: int | Sequence[int] | torch.Tensor, n_paths: int) -> list[int]:
    """Return ``path_idx`` as a non-empty list of ints in [0, n_paths), else raise ValueError."""
    if isinstance(path_idx, torch.Tensor):
        items = path_idx.reshape(-1).tolist()
    elif isinstance(path_idx, Sequence):
        items = list(path_idx)
    else:
        items = [path_idx]
    if not items:
        raise ValueError("path_idx must not be empty")
    out = []
    for p in items:
        try:
            if isinstance(p, bool):
                raise TypeError
            p = operator.index(p)
        except TypeError:
            raise ValueError(f"path_idx entries must be integers, got {p!r}") from None
        if not 0 <= p < n_paths:
            raise ValueError(f"path_idx={p} is out of range [0, {n_paths})")
        out.append(p)
    return out


def check_probs_vector(probs: torch.Tensor, n_paths: int, eps: float, min_prob: float = 0.0) -> None:
    """Validate a sampling distribution: shape (n_paths,), finite, ≥ ``min_prob`` - eps, sums to 1 ± eps."""
    if not isinstance(probs, torch.Tensor):
        raise ValueError(f"probs must be a torch.Tensor, got {type(probs).__name__}")
    if probs.shape != (n_paths,):
        raise ValueError(f"probs must have shape ({n_paths},), got {tuple(probs.shape)}")
    if not bool(torch.isfinite(probs).all()):
        raise ValueError("probs contains NaN or infinite values")
    total = float(probs.double().sum())
    if abs(total - 1.0) > max(eps, 1e-9):
        raise ValueError(f"probs must sum to 1, got sum={total:.12g}")
    low = float(probs.min())
    if low < min_prob - eps:
        raise ValueError(f"probs must be >= min_prob={min_prob:.6g}, got min={low:.6g}")


def check_saga_denominator(saga_denominator: str) -> None:
    """P-SAGA's denominator rule: "paper" or "reference"."""
    if saga_denominator not in ("paper", "reference"):
        raise ValueError(f"saga_denominator must be 'paper' or 'reference', got {saga_denominator!r}")


def check_pathwise_args(
    params: Sequence[torch.Tensor], n_paths: int, b1: float, b2: float, eps: float, grad_mult: float,
    saga_denominator: str, table_dtype: torch.dtype,
) -> None:
    """Validate :class:`~scrapl_live.loss.pathwise.PathwiseGradTransform`'s arguments (its docstring)."""
    if not params or not all(isinstance(p, torch.Tensor) for p in params):
        raise ValueError("params must be a non-empty sequence of tensors")
    if isinstance(n_paths, bool) or not isinstance(n_paths, int) or n_paths < 1:
        raise ValueError(f"n_paths must be an integer >= 1, got {n_paths!r}")
    for name, val in (("b1", b1), ("b2", b2)):
        if not 0.0 <= val < 1.0:
            raise ValueError(f"{name} must be in [0, 1), got {val}")
    if not eps > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if not (math.isfinite(grad_mult) and grad_mult > 0):
        raise ValueError(f"grad_mult must be finite and > 0, got {grad_mult}")
    check_saga_denominator(saga_denominator)
    if table_dtype not in TABLE_DTYPES:
        raise ValueError(f"table_dtype must be one of {TABLE_DTYPES}, got {table_dtype}")
