"""Filter-and-decimate in the Fourier domain, reading only the spectrum blocks where the filter lives.

``decimate(z_hat * h, 2^m)`` sums the ``2^m`` blocks of ``L / 2^m`` bins of the product (the spectral
aliases).  Far from its centre a Gaussian filter underflows to exactly 0.0 in float32, and every
JTFS filter (first-order wavelets at their decimation level, second-order wavelets on the modulus
spectrum, low-passes) is non-zero only in the few blocks next to DC: the first ``P+`` blocks
(positive frequencies) and the last ``P-`` (negative).  The op therefore multiplies just those blocks —
contiguous slices of the half spectrum, the negative ones read as conjugates — and adds them: the
same sums minus the exact-zero terms, with no gather, scatter or zero-filled output.  A filter whose
blocks cover more than half of the spectrum (or no decimation) reads every block of the full spectrum.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def full_spectrum(z_half: torch.Tensor, length: int) -> torch.Tensor:
    """Full FFT (..., length) of a real signal from its rfft (..., length // 2 + 1): Hermitian symmetry."""
    return torch.cat([z_half, z_half[..., 1 : (length + 1) // 2].flip(-1).conj()], dim=-1)


def _scaled_sum(blocks: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """``sum_p blocks[..., p, :] * h[..., p, :]`` for complex blocks (..., P, L') and h (n?, P, L', 2).

    h holds the real filter as (re, im) factors, (h, h) or (h, -h) (the product with the conjugate), so
    the filter is never promoted to a complex copy and conjugation costs no pass of its own.
    """
    re_im = torch.view_as_real(blocks)
    out = re_im[..., 0, :, :] * h[..., 0, :, :]
    for p in range(1, blocks.shape[-2]):
        out += re_im[..., p, :, :] * h[..., p, :, :]
    return torch.view_as_complex(out)


class FilterDecimate(nn.Module):
    """Multiply the spectrum of a real signal by one filter (1-D) or a bank (2-D, shared input), decimate.

    The input is the signal's rfft (half spectrum); the filters are not symmetric, so the negative
    frequencies are read as conjugates of the positive ones (the values ``fft`` would give).
    spectra: (L,) or (n, L) float64, cast to float32 (the reference's filter precision) before the zeros
    are located.  Buffers are non-persistent, so the op follows ``.to()`` and stays out of state dicts.
    """

    def __init__(self, spectra: np.ndarray, log2_factor: int) -> None:
        super().__init__()
        h = torch.from_numpy(np.ascontiguousarray(spectra)).to(torch.float32)
        self.bank = h.ndim == 2
        self.log2_factor = log2_factor
        self.length = h.shape[-1]
        self.out_len = self.length >> log2_factor
        rows = h if self.bank else h.unsqueeze(0)
        blocks = (rows != 0).any(0).reshape(2**log2_factor, self.out_len).any(1)
        half = 2**log2_factor // 2
        live = torch.nonzero(blocks).squeeze(1).tolist()
        self.n_pos = 1 + max((b for b in live if b < half), default=-1)
        self.n_neg = 2**log2_factor - min((b for b in live if b >= half), default=2**log2_factor)
        # (n_neg < half keeps the Nyquist bin, which full_spectrum does not conjugate, out of the window)
        self.windowed = bool(live) and self.n_pos + self.n_neg <= half and self.n_neg < half
        if not self.windowed:  # every block, read from the full spectrum
            self.n_pos, self.n_neg = 2**log2_factor, 0
        blocked = (h / 2**log2_factor).unflatten(-1, (2**log2_factor, self.out_len))
        pos, neg = blocked[..., : self.n_pos, :], blocked[..., blocked.shape[-2] - self.n_neg :, :]
        self.register_buffer("h_pos", torch.stack([pos, pos], -1), persistent=False)
        self.register_buffer("h_neg", torch.stack([neg, -neg], -1), persistent=False)

    def forward(self, z_half: torch.Tensor, n: int | None = None) -> torch.Tensor:
        """Filtered, decimated (full) spectra from the rfft ``z_half`` (..., L/2+1) of real signals.

        Single filter: -> (..., L / 2^m).  Bank: z_half (B, L/2+1) and the first ``n`` bands (all if None)
        -> (B, n, L / 2^m).
        """
        lo = self.out_len
        if self.windowed:
            # One slice of the half spectrum holds every block read (both sides), so backward fills one
            # zero gradient of the input's size.
            window = z_half[..., : max(self.n_pos * lo, self.n_neg * lo + 1)]
        else:
            window = full_spectrum(z_half, self.length)
        if self.bank:
            window = window.unsqueeze(-2)  # (B, 1, W): broadcast over the bands
        parts = []
        if self.n_pos:
            pos = window[..., : self.n_pos * lo].unflatten(-1, (self.n_pos, lo))
            parts.append(_scaled_sum(pos, self.h_pos[:n] if self.bank else self.h_pos))
        if self.n_neg:
            # full[L - m] = conj(z_half[m]) for m = 1 .. n_neg·L', in full-spectrum order (h_neg conjugates)
            neg = window[..., 1 : self.n_neg * lo + 1].flip(-1).unflatten(-1, (self.n_neg, lo))
            parts.append(_scaled_sum(neg, self.h_neg[:n] if self.bank else self.h_neg))
        return parts[0] if len(parts) == 1 else parts[0] + parts[1]
