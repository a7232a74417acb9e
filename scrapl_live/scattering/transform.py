"""JTFS computation stages as pure functions of tensors and filter spectra (REFERENCE §1.3).

Shapes: B = batch, n = first-order bands, L = time length at some decimation, R = rows of the n1 axis,
G = frequential filters processed together.  All spectra are full complex FFTs (fftfreq order).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .ops import decimate_spectrum, modulus


@dataclass
class Scalogram:
    """First-order ``|x * psi1|`` spectra for bands ``0..n1_max-1``, grouped by decimation level.

    ``groups[i] = (k1, U_hat)`` with ``U_hat`` (B, n_i, N_pad / 2^k1) complex; bands are in n1 order.
    """

    groups: list[tuple[int, torch.Tensor]]
    n1_max: int


def first_order(
    x_hat: torch.Tensor, psi1_groups: list[tuple[int, torch.Tensor]]
) -> list[tuple[int, torch.Tensor]]:
    """Scalogram spectra: for each level group, ``fft(|ifft(decimate(x_hat * psi1, 2^k1))|)``.

    x_hat: (B, N_pad) complex; psi1_groups: [(k1, (n, N_pad) real)] -> [(k1, (B, n, N_pad/2^k1) complex)].
    All bands of one group are computed as one batched tensor op.
    """
    out = []
    for k1, psi in psi1_groups:
        z = decimate_spectrum(x_hat.unsqueeze(1) * psi, k1)
        out.append((k1, torch.fft.fft(modulus(torch.fft.ifft(z)))))
    return out


def second_order(
    groups: list[tuple[int, torch.Tensor]],
    counts: list[int],
    psi2_levels: dict[int, torch.Tensor],
    j2: int,
    log2_t: int,
) -> torch.Tensor:
    """Complex ``Y2 = (U1 * psi2)`` decimated to total stride 2^j2, stacked over the n1 prefix with j1 < j2.

    counts[i] = number of leading bands of group i used; psi2_levels[k1] = psi2 at level k1 (N_pad/2^k1,).
    Returns (B, n1_max, N_pad/2^j2) complex.
    """
    parts = []
    for (k1, u_hat), n in zip(groups, counts, strict=False):
        if n == 0:
            continue
        z = decimate_spectrum(u_hat[:, :n] * psi2_levels[k1], min(j2 - k1, log2_t))
        parts.append(torch.fft.ifft(z))
    return torch.cat(parts, dim=1)


def frequency_spectrum(y: torch.Tensor, n_fr_pad: int) -> torch.Tensor:
    """FFT along n1 after zero-padding it (high-n1 side) to N_fr: (B, n1, L) -> (B, N_fr, L) complex."""
    return torch.fft.fft(y, n=n_fr_pad, dim=-2)


def time_lowpass(u: torch.Tensor, phi: torch.Tensor, log2_factor: int) -> torch.Tensor:
    """Real ``ifft(decimate(fft(u) * phi))`` along the last axis: (..., L) -> (..., L / 2^log2_factor)."""
    return torch.fft.ifft(decimate_spectrum(torch.fft.fft(u) * phi, log2_factor)).real


def frequency_lowpass(u: torch.Tensor, phi_fr: torch.Tensor, log2_factor: int) -> torch.Tensor:
    """Low-pass along the n1 axis (dim -2): (..., R, L) real -> (..., R / 2^log2_factor, L) real."""
    u_hat = torch.fft.fft(u, dim=-2) * phi_fr.unsqueeze(-1)
    return torch.fft.ifft(decimate_spectrum(u_hat, log2_factor, dim=-2), dim=-2).real


def joint_paths(
    y_hat: torch.Tensor,
    psi_fr: torch.Tensor,
    log2_fr: int,
    phi_t: torch.Tensor | None,
    log2_t_factor: int,
    phi_fr: torch.Tensor | None,
    log2_fr_factor: int,
) -> torch.Tensor:
    """Frequential wavelets, modulus and low-passes for G filters sharing their decimation and spin class.

    y_hat: (B, N_fr, L) complex spectrum along n1; psi_fr: (G, N_fr) real.  ``phi_t`` None skips the time
    low-pass (first-order paths, already averaged); ``phi_fr`` None skips the frequency low-pass (spin 0).
    Returns (B, G, R, L') real.
    """
    z = decimate_spectrum(y_hat.unsqueeze(1) * psi_fr.unsqueeze(-1), log2_fr, dim=-2)
    u = modulus(torch.fft.ifft(z, dim=-2))
    if phi_t is not None:
        u = time_lowpass(u, phi_t, log2_t_factor)
    if phi_fr is not None:
        u = frequency_lowpass(u, phi_fr, log2_fr_factor)
    return u


def first_order_averaged(
    groups: list[tuple[int, torch.Tensor]], phis: dict[int, torch.Tensor], log2_t: int
) -> torch.Tensor:
    """Time-averaged scalogram S1: (B, n1, N_pad / 2^log2_t) real, stacked over all bands of ``groups``."""
    parts = [time_lowpass_hat(u_hat, phis[k1], log2_t - k1) for k1, u_hat in groups]
    return torch.cat(parts, dim=1)


def time_lowpass_hat(u_hat: torch.Tensor, phi: torch.Tensor, log2_factor: int) -> torch.Tensor:
    """Like :func:`time_lowpass` for an input given by its spectrum u_hat (..., L) complex."""
    return torch.fft.ifft(decimate_spectrum(u_hat * phi, log2_factor)).real
