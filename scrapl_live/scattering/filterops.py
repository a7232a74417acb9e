"""Filter-and-decimate in the Fourier domain that skips the exact zeros of float32 filter spectra.

``decimate(z_hat * h, 2^m)`` sums the ``2^m`` spectral aliases of the product.  Far from its centre a
Gaussian filter underflows to exactly 0.0 in float32, so most products are exact zeros: a sparse filter
gathers only the bins where ``h != 0``, multiplies by ``h / 2^m`` (a power-of-two scale, exact) and
scatter-adds them into their aliased output bins.  Same sums, minus the zero terms.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .ops import decimate_spectrum

# Use the sparse form when at most this fraction of the filter bins is non-zero.
SPARSE_FRACTION = 0.5


def full_spectrum(z_half: torch.Tensor, length: int) -> torch.Tensor:
    """Full FFT (..., length) of a real signal from its rfft (..., length // 2 + 1): Hermitian symmetry."""
    return torch.cat([z_half, z_half[..., 1 : (length + 1) // 2].flip(-1).conj()], dim=-1)


class FilterDecimate(nn.Module):
    """Multiply the spectrum of a real signal by one filter (1-D) or a bank (2-D, shared input), decimate.

    The input is the signal's rfft (half spectrum); the filters are not symmetric, so the negative
    frequencies are read as conjugates of the positive ones (the values ``fft`` would give).
    spectra: (L,) or (n, L) float64, cast to float32 (the reference's filter precision) before the sparsity
    is taken.  Buffers are non-persistent, so the op follows ``.to()`` and stays out of state dicts.
    """

    def __init__(self, spectra: np.ndarray, log2_factor: int) -> None:
        super().__init__()
        h = torch.from_numpy(np.ascontiguousarray(spectra)).to(torch.float32)
        self.bank = h.ndim == 2
        self.log2_factor = log2_factor
        self.length = h.shape[-1]
        self.out_len = self.length >> log2_factor
        rows = h if self.bank else h.unsqueeze(0)
        self.sparse = bool((rows != 0).float().mean() <= SPARSE_FRACTION)
        if not self.sparse:
            self.register_buffer("h", h, persistent=False)
            return
        # Two gather lists: bins read directly (k <= L/2) and bins read as conjugates (k > L/2).
        parts: dict[str, list[list[torch.Tensor]]] = {"pos": [[], [], []], "neg": [[], [], []]}
        self.offsets: dict[str, list[int]] = {"pos": [0], "neg": [0]}
        for band, row in enumerate(rows):
            nz = torch.nonzero(row).squeeze(1)
            for side, sel in (("pos", nz <= self.length // 2), ("neg", nz > self.length // 2)):
                k = nz[sel]
                parts[side][0].append(k if side == "pos" else self.length - k)
                parts[side][1].append(k % self.out_len + band * self.out_len)
                parts[side][2].append(row[k] / 2**log2_factor)
                self.offsets[side].append(self.offsets[side][-1] + k.numel())
        for side, (src, dst, vals) in parts.items():
            self.register_buffer(f"{side}_src", torch.cat(src), persistent=False)
            self.register_buffer(f"{side}_dst", torch.cat(dst), persistent=False)
            self.register_buffer(f"{side}_h", torch.cat(vals), persistent=False)

    def forward(self, z_half: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Filtered, decimated (full) spectra from the rfft ``z_half`` (..., L/2+1) of real signals.

        Single filter: -> (..., L / 2^m).  Bank: z_half (B, L/2+1) and the first ``n`` bands (all if None)
        -> (B, n, L / 2^m).
        """
        if not self.sparse:
            z = full_spectrum(z_half, self.length)
            if not self.bank:
                return decimate_spectrum(z * self.h, self.log2_factor)
            return decimate_spectrum(z.unsqueeze(-2) * self.h[:n], self.log2_factor)
        bands = 1 if not self.bank else (len(self.offsets["pos"]) - 1 if n is None else n)
        out = z_half.new_zeros(z_half.shape[:-1] + (bands * self.out_len,))
        for side in ("pos", "neg"):
            stop = self.offsets[side][bands]
            vals = z_half.index_select(-1, getattr(self, f"{side}_src")[:stop])
            vals = (vals if side == "pos" else vals.conj()) * getattr(self, f"{side}_h")[:stop]
            out = out.index_add_(-1, getattr(self, f"{side}_dst")[:stop], vals)
        return out.unflatten(-1, (bands, self.out_len)) if self.bank else out
