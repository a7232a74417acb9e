"""Tensor primitives of the JTFS: stable complex modulus and Fourier-domain decimation."""

from __future__ import annotations

from typing import Any

import torch

MODULUS_EPS = 1e-12


class _StableModulus(torch.autograd.Function):
    """``|z| + 1e-12`` whose backward is ``g * z / (|z| + 1e-12)``, i.e. a zero subgradient at ``z = 0``.

    The denominator is >= 1e-12 > 0, so z = 0 gives exactly 0 without a masking pass.  Only ``z`` is saved;
    ``|z|`` is recomputed in backward, which saves a third of the activation memory of the modulus (the
    JTFS's largest saved tensors).
    """

    @staticmethod
    def forward(ctx: Any, z: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(z)
        return z.abs() + MODULUS_EPS

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        (z,) = ctx.saved_tensors
        return z * (grad / (z.abs() + MODULUS_EPS))


def modulus(z: torch.Tensor) -> torch.Tensor:
    """Stable modulus of a complex tensor (any shape) -> real tensor of the same shape."""
    return _StableModulus.apply(z)


def decimate_spectrum(z_hat: torch.Tensor, log2_factor: int, dim: int = -1) -> torch.Tensor:
    """Decimate by ``2^log2_factor`` in the Fourier domain: mean of the spectral aliases along ``dim``.

    Equivalent to time-domain decimation of ``ifft(z_hat)``.  (..., L, ...) -> (..., L / 2^log2_factor, ...).
    """
    if log2_factor == 0:
        return z_hat
    dim = dim % z_hat.ndim
    length = z_hat.shape[dim]
    shape = z_hat.shape[:dim] + (2**log2_factor, length >> log2_factor) + z_hat.shape[dim + 1 :]
    return z_hat.reshape(shape).mean(dim=dim)
