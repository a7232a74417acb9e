"""JTFS computation stages as pure functions of tensors and filter spectra (docs/method.md#jtfs).

Shapes: B = batch, n = first-order bands, L = time length at some decimation, R = rows of the n1 axis,
G = frequential filters processed together.  Spectra are full complex FFTs (fftfreq order) unless
named as rffts.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .filterops import FilterDecimate
from .ops import decimate_spectrum, mixed_modulus_spectrum, modulus, modulus_spectrum


@dataclass
class Scalogram:
    """First-order ``|x * psi1|`` spectra for bands ``0..n1_max-1``, grouped by decimation level.

    ``groups[i] = (k1, U_hat)`` with ``U_hat`` (B, n_i, N_pad / 2^(k1+1) + 1) complex, the rfft of the
    real ``|x * psi1|``; bands are in n1 order.
    """

    groups: list[tuple[int, torch.Tensor]]
    n1_max: int


def first_order(
    x_hat: torch.Tensor, psi1: list[tuple[int, FilterDecimate, int]]
) -> list[tuple[int, torch.Tensor]]:
    """Scalogram spectra: per level group, ``rfft(|ifft(decimate(x_hat * psi1, 2^k1))|)`` (first n bands).

    x_hat: (B, N_pad/2+1) rfft of the padded signal; psi1: [(k1, bank op, n)]
    -> [(k1, (B, n, N_pad/2^(k1+1)+1) complex)].
    All bands of one group are computed as one batched tensor op.
    """
    return [(k1, modulus_spectrum(torch.fft.ifft(op(x_hat, n)))) for k1, op, n in psi1]


def second_order(
    groups: list[tuple[int, torch.Tensor]], counts: list[int], psi2: dict[int, FilterDecimate]
) -> torch.Tensor:
    """Complex ``Y2 = U1 * psi2`` decimated to total stride 2^j2, stacked over the n1 prefix with j1 < j2.

    counts[i] = number of leading bands of group i used; psi2[k1] = psi2 at level k1 with its decimation.
    Returns (B, n1_max, N_pad/2^j2) complex.
    """
    parts = [
        torch.fft.ifft(psi2[k1](u_hat[:, :n])) for (k1, u_hat), n in zip(groups, counts, strict=False) if n
    ]
    return torch.cat(parts, dim=1)


def frequential_matrix(psi_fr: np.ndarray, log2_fr: int) -> np.ndarray:
    """The n1-axis part of a joint path as one matrix: (N_fr,) filter spectrum -> (N_fr / 2^log2_fr, N_fr).

    Zero-padding n1 to N_fr, FFT, multiplying by ``psi_fr``, decimating by ``2^log2_fr`` and inverse FFT
    are all linear along n1, so they compose into ``M`` with ``M @ y == ifft(decimate(fft(y) * psi_fr))``
    for y (N_fr, L) (or its first n rows with ``M[:, :n]``).  Built in float64 by running those ops on
    the identity.  Applying M is one small GEMM, instead of two FFTs along a strided axis over N_fr rows
    of which only n1_max are non-zero.
    """
    n_fr = psi_fr.shape[-1]
    spectrum = np.fft.fft(np.eye(n_fr), axis=0) * psi_fr[:, None]
    decimated = spectrum.reshape(2**log2_fr, n_fr >> log2_fr, n_fr).mean(axis=0)
    return np.fft.ifft(decimated, axis=0)


def time_lowpass(u_hat: torch.Tensor, phi: FilterDecimate) -> torch.Tensor:
    """Real ``ifft(decimate(u_hat * phi))`` along the last axis, from the rfft u_hat (..., L/2+1) of u."""
    return torch.fft.ifft(phi(u_hat)).real


def frequency_lowpass(u: torch.Tensor, phi_fr: torch.Tensor, log2_factor: int) -> torch.Tensor:
    """Low-pass along the n1 axis (dim -2): (..., R, L) real -> (..., R / 2^log2_factor, L) real."""
    u_hat = torch.fft.fft(u, dim=-2) * phi_fr.unsqueeze(-1)
    return torch.fft.ifft(decimate_spectrum(u_hat, log2_factor, dim=-2), dim=-2).real


def joint_paths(
    y: torch.Tensor,
    m_fr: torch.Tensor,
    phi_t: FilterDecimate | None,
    phi_fr: torch.Tensor | None,
    log2_fr_factor: int,
) -> torch.Tensor:
    """Frequential wavelets, modulus and low-passes for G filters sharing their decimation and spin class.

    y: (B, n, L) complex (or real) rows n1 = 0..n-1; m_fr: (G, R, n) complex, the first n columns of each
    filter's :func:`frequential_matrix`.  ``phi_t`` None skips the time low-pass (first-order paths,
    already averaged); ``phi_fr`` None skips the frequency low-pass (spin 0).  Returns (B, G, R, L') real.
    """
    y = y.to(m_fr.dtype)
    if phi_t is None:
        u = modulus(torch.matmul(m_fr, y.unsqueeze(1)))
    else:
        u = time_lowpass(mixed_modulus_spectrum(m_fr, y), phi_t)
    if phi_fr is not None:
        u = frequency_lowpass(u, phi_fr, log2_fr_factor)
    return u


def first_order_averaged(
    groups: list[tuple[int, torch.Tensor]], phi: dict[int, FilterDecimate]
) -> torch.Tensor:
    """Time-averaged scalogram S1: (B, n1, N_pad / 2^log2T) real, stacked over all bands of ``groups``."""
    return torch.cat([time_lowpass(u_hat, phi[k1]) for k1, u_hat in groups], dim=1)
