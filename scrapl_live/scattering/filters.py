"""Fourier-domain Morlet/Gabor filterbank of the JTFS, following the reference's kymatio fork.

All filters are real arrays on an FFT grid (``numpy.fft.fftfreq`` order, 0.5 = Nyquist) and are built
in float64; the module casts them to float32 once.  Formulas: REFERENCE.md §1.1-1.2.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

SIGMA0 = 0.1
ALPHA = 5.0
R_PSI = math.sqrt(0.5)


@dataclass(frozen=True)
class FilterSpec:
    """Centre frequency ``xi`` (cycles/sample, signed), bandwidth ``sigma`` and max log2 decimation ``j``."""

    xi: float
    sigma: float
    j: int


def morlet_spectrum(n: int, xi: float, sigma: float) -> np.ndarray:
    """Periodised Morlet (``xi != 0``) or Gaussian (``xi == 0``) spectrum of length ``n``, L1-normalised.

    The zero-mean correction ``kappa`` makes the DC bin exactly 0 for band-pass filters.  Returns (n,)
    float64.
    """
    periods = min(math.ceil(math.sqrt(-2 * sigma**2 * math.log(1e-7)) + 1), 5)
    freqs = np.arange((1 - periods) * n, periods * n, dtype=float) / float(n)
    if periods == 1:
        low = np.exp(-(np.fft.fftfreq(n) ** 2) / (2 * sigma**2))
    else:
        low = np.exp(-(freqs**2) / (2 * sigma**2)).reshape(2 * periods - 1, n).mean(axis=0)
    if xi:
        gabor = np.exp(-((freqs - xi) ** 2) / (2 * sigma**2)).reshape(2 * periods - 1, n).mean(axis=0)
        spec = gabor - (gabor[0] / low[0]) * low
    else:
        spec = low
    return spec / np.abs(np.fft.ifft(spec)).sum()


def max_log2_decimation(xi: float, sigma: float) -> int:
    """Largest j such that the filter's support ``|xi| + alpha*sigma`` stays below ``2^-(j+1)``."""
    return int(math.floor(-math.log2(min(abs(xi) + ALPHA * sigma, 0.5))) - 1)


def sigma_for_xi(xi: float, q: int) -> float:
    """Bandwidth that makes neighbouring constant-Q filters meet at amplitude ``r_psi``."""
    factor = 1.0 / 2 ** (1.0 / q)
    return xi * (1 - factor) / (1 + factor) / math.sqrt(2 * math.log(1.0 / R_PSI))


def anden_generator(j_max: int, q: int) -> Iterator[tuple[float, float]]:
    """(xi, sigma) pairs: geometric (constant-Q) down to the elbow, then ``q-1`` linearly spaced filters."""
    xi = max(1.0 / (1.0 + 2 ** (3.0 / q)), 0.35)
    sigma = sigma_for_xi(xi, q)
    sigma_min = SIGMA0 / 2**j_max
    if sigma <= sigma_min:
        xi = sigma
    else:
        yield xi, sigma
        while sigma > sigma_min * 2 ** (1.0 / q):
            xi /= 2 ** (1.0 / q)
            sigma /= 2 ** (1.0 / q)
            yield xi, sigma
    elbow = xi
    for _ in range(q - 1):
        xi -= elbow / q
        yield xi, sigma_min


def wavelet_specs(j_max: int, q: int) -> list[FilterSpec]:
    """Wavelet family for (J, Q), highest centre frequency first."""
    return [FilterSpec(xi, s, max_log2_decimation(xi, s)) for xi, s in anden_generator(j_max, q)]


def frequential_specs(j_fr: int, q_fr: int) -> list[FilterSpec]:
    """Frequential family by n_fr: low-pass (spin 0), then positive xi, then the same with negative xi."""
    psis = wavelet_specs(j_fr, q_fr)
    lowpass = FilterSpec(0.0, SIGMA0 / 2**j_fr, j_fr)
    return [lowpass] + psis + [FilterSpec(-p.xi, p.sigma, p.j) for p in psis]


def alias_levels(spec: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """Level k = spectrum folded into ``len/2^k`` bins by summing its ``2^k`` aliases (k < n_levels)."""
    return [spec.reshape(2**k, -1).sum(axis=0) for k in range(max(n_levels, 1))]


def temporal_support(spec: np.ndarray, criterion: float = 1e-3) -> int:
    """Half support (samples) beyond which the filter's L1 tail is below ``criterion``."""
    h = np.abs(np.fft.ifft(spec))
    half = h.shape[0] // 2
    residual = np.cumsum(h[:half][::-1])[::-1]
    below = np.nonzero(residual <= criterion)[0]
    return int(below[0]) + 1 if below.size else half


def padded_length(n: int, t: int) -> int:
    """Time padding N_pad = 2^min(ceil(log2(N + 2*min_to_pad)), floor(log2(3N-2))), min_to_pad = 3 × the
    low-pass's half support: room for the reflection on both sides (docs/method.md#jtfs)."""
    min_to_pad = 3 * temporal_support(morlet_spectrum(n, 0.0, SIGMA0 / t))
    return 2 ** min(math.ceil(math.log2(n + 2 * min_to_pad)), math.floor(math.log2(3 * n - 2)))


def frequential_length(j: int, q1: int, j_fr: int, f: int) -> int:
    """Zero-padded length N_fr of the n1 axis: ((J+1)Q1 + 8 min(F, 2^J_fr)) // 2^J_fr * 2^J_fr."""
    return ((j + 1) * q1 + 8 * min(f, 2**j_fr)) // 2**j_fr * 2**j_fr
