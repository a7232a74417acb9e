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


class FilterDecimate(nn.Module):
    """Multiply spectra by one filter (1-D) or a bank (2-D, shared input) and decimate by ``2^log2_factor``.

    spectra: (L,) or (n, L) float64, cast to float32 (the reference's filter precision) before the sparsity
    is taken.  Buffers are non-persistent, so the op follows ``.to()`` and stays out of state dicts.
    """

    def __init__(self, spectra: np.ndarray, log2_factor: int) -> None:
        super().__init__()
        h = torch.from_numpy(np.ascontiguousarray(spectra)).to(torch.float32)
        self.bank = h.ndim == 2
        self.log2_factor = log2_factor
        self.out_len = h.shape[-1] >> log2_factor
        rows = h if self.bank else h.unsqueeze(0)
        self.sparse = bool((rows != 0).float().mean() <= SPARSE_FRACTION)
        if not self.sparse:
            self.register_buffer("h", h, persistent=False)
            return
        idx, out_idx, vals, offsets = [], [], [], [0]
        for band, row in enumerate(rows):
            nz = torch.nonzero(row).squeeze(1)
            idx.append(nz)
            out_idx.append(nz % self.out_len + band * self.out_len)
            vals.append(row[nz] / 2**log2_factor)
            offsets.append(offsets[-1] + nz.numel())
        self.offsets = offsets
        self.register_buffer("idx", torch.cat(idx), persistent=False)
        self.register_buffer("out_idx", torch.cat(out_idx), persistent=False)
        self.register_buffer("h", torch.cat(vals), persistent=False)

    def forward(self, z_hat: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Filtered, decimated spectra.

        Single filter: z_hat (..., L) -> (..., L / 2^m).  Bank: z_hat (B, L) and the first ``n`` bands
        (all if None) -> (B, n, L / 2^m).
        """
        if not self.bank:
            if not self.sparse:
                return decimate_spectrum(z_hat * self.h, self.log2_factor)
            vals = z_hat.index_select(-1, self.idx) * self.h
            out = z_hat.new_zeros(z_hat.shape[:-1] + (self.out_len,))
            return out.index_add_(-1, self.out_idx, vals)
        n = self.h.shape[0] if not self.sparse and n is None else n
        if not self.sparse:
            return decimate_spectrum(z_hat.unsqueeze(-2) * self.h[:n], self.log2_factor)
        n = len(self.offsets) - 1 if n is None else n
        stop = self.offsets[n]
        vals = z_hat.index_select(-1, self.idx[:stop]) * self.h[:stop]
        out = z_hat.new_zeros(z_hat.shape[:-1] + (n * self.out_len,))
        return out.index_add_(-1, self.out_idx[:stop], vals).unflatten(-1, (n, self.out_len))
