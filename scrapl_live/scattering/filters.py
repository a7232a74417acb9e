"""Fourier-domain Morlet/Gabor filterbank of the JTFS: kymatio's filter design with the SCRAPL layout.

The Morlet/Gaussian spectra, the constant-Q (xi, sigma) family, the bandwidth rule, the largest safe
decimation and the temporal support come from ``kymatio.scattering1d.filter_bank`` (kymatio 0.3, the
design scrapl-loss's fork uses; equal values, tests/scattering/test_filters.py).  Ours on top: the
frequential family with both spins, the filter levels by alias sums and the padded lengths
(docs/method.md#jtfs).  All filters are real arrays on an FFT grid (``numpy.fft.fftfreq`` order,
0.5 = Nyquist), built in float64; the JTFS casts them to float32 once.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from kymatio.scattering1d import filter_bank as kfb

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
    """Periodised Morlet (``xi != 0``) or Gaussian (``xi == 0``) spectrum of length ``n``, L1-normalised
    (kymatio's ``morlet_1d``: the zero-mean correction makes the DC bin 0 for band-pass filters): (n,)
    float64."""
    return kfb.morlet_1d(n, xi if xi else None, sigma)


def max_log2_decimation(xi: float, sigma: float) -> int:
    """Largest j such that the filter's support ``|xi| + alpha*sigma`` stays below ``2^-(j+1)``."""
    return kfb.get_max_dyadic_subsampling(abs(xi), sigma, ALPHA)


def wavelet_specs(j_max: int, q: int) -> list[FilterSpec]:
    """Wavelet family for (J, Q), highest centre frequency first: constant-Q down to the elbow, then
    ``q-1`` linearly spaced filters of the smallest bandwidth (kymatio's ``compute_params_filterbank``)."""
    xis, sigmas, js = kfb.compute_params_filterbank(SIGMA0 / 2**j_max, q, ALPHA, R_PSI)
    return [FilterSpec(float(xi), float(s), int(j)) for xi, s, j in zip(xis, sigmas, js, strict=True)]


def frequential_specs(j_fr: int, q_fr: int) -> list[FilterSpec]:
    """Frequential family by n_fr: low-pass (spin 0), then positive xi, then the same with negative xi."""
    psis = wavelet_specs(j_fr, q_fr)
    lowpass = FilterSpec(0.0, SIGMA0 / 2**j_fr, j_fr)
    return [lowpass] + psis + [FilterSpec(-p.xi, p.sigma, p.j) for p in psis]


def alias_levels(spec: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """Level k = spectrum folded into ``len/2^k`` bins by summing its ``2^k`` aliases (k < n_levels)."""
    return [spec.reshape(2**k, -1).sum(axis=0) for k in range(max(n_levels, 1))]


def temporal_support(spec: np.ndarray, criterion: float = 1e-3) -> int:
    """Half support (samples) beyond which the filter's L1 tail is below ``criterion`` (kymatio's)."""
    return int(kfb.compute_temporal_support(spec.reshape(1, -1), criterion_amplitude=criterion))


def padded_length(n: int, t: int) -> int:
    """Time padding N_pad = 2^min(ceil(log2(N + 2*min_to_pad)), floor(log2(3N-2))), min_to_pad = 3 × the
    low-pass's half support: room for the reflection on both sides (docs/method.md#jtfs)."""
    min_to_pad = 3 * temporal_support(morlet_spectrum(n, 0.0, SIGMA0 / t))
    return 2 ** min(math.ceil(math.log2(n + 2 * min_to_pad)), math.floor(math.log2(3 * n - 2)))


def frequential_length(j: int, q1: int, j_fr: int, f: int) -> int:
    """Zero-padded length N_fr of the n1 axis: ((J+1)Q1 + 8 min(F, 2^J_fr)) // 2^J_fr * 2^J_fr."""
    return ((j + 1) * q1 + 8 * min(f, 2**j_fr)) // 2**j_fr * 2**j_fr
