"""Differentiable, batched RBJ/Butterworth-style biquad high-pass without a per-sample recursion.

The reference runs ``torchaudio.functional.lfilter`` (a sequential loop, output clamped to [-1, 1]).
Here the filter's impulse response is written in closed form from its pole pair.  A bound on its
remaining absolute sum gives the number of taps L after which it is below the dtype's epsilon; the
input (length M) is then filtered by one FFT of length ≥ M + L - 1: multiplied by the analytic
frequency response when L is shorter than the output (what wraps around is below epsilon), or by the
FFT of the exact taps otherwise (samples beyond the output never reach it, so nothing is truncated).
The result equals the causal IIR filter (``lfilter``) to rounding; everything is elementwise or an
FFT, hence fast, batched and differentiable in the cutoff and Q.

Derivation (K = tan(π fc / sr), D = 1 + K/Q + K², w = sqrt(4 - 1/Q²)):
b = (1, -2, 1)/D, a = (1, 2(K²-1)/D, (1 - K/Q + K²)/D); poles p = ((1 - K²) ± jKw)/D = r·e^{±jθ} with
r² = 1 - 2K/(Q D) and θ = atan2(Kw, 1 - K²).  Partial fractions of H(z) give
h[0] = 1/D and, for m = n - 1 ≥ 0, with s = 2K + 1/Q,
h[n] = K/D² · ( -2s·r^m cos(mθ) + (s² - w²)(K/D)·r^{m-1}·sin(mθ)/sin θ ).
These forms avoid the cancellations of the textbook b * (1/A) route (whose terms grow like n·r^n for
Q → 0.5 while the high-pass response stays small); poles near z = -1 (K > 1) are handled through
φ = π - θ so that θ keeps its precision there.  At Q = 0.5 the poles coincide (w = 0, sin(mθ)/sin θ → m);
w² is floored at ``W2_MIN`` so the formulas and their gradients stay finite.
"""

from __future__ import annotations

import math

import torch
from scipy.fft import next_fast_len

W2_MIN = 1e-20
"""Floor on w² = 4 - 1/Q² (keeps Q = 0.5, a double pole, finite and differentiable)."""

LOG_FLOOR = -60.0
"""Floor on the exponent of r^m (e^-60 ≈ 1e-26): keeps float32 results out of the slow denormal range."""


def highpass_coefficients(
    cutoff: torch.Tensor, q: torch.Tensor, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """High-pass coefficients as in the reference. cutoff, q: (B,) → b (B, 3), a (B, 3), a[:, 0] = 1."""
    k = torch.tan(math.pi * cutoff / sample_rate)
    norm = 1.0 / (1.0 + k / q + k * k)
    b = torch.stack([norm, -2.0 * norm, norm], dim=-1)
    a = torch.stack([torch.ones_like(norm), 2.0 * (k * k - 1.0) * norm, (1.0 - k / q + k * k) * norm], dim=-1)
    return b, a


def _pole_terms(k: torch.Tensor, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(D, w², log r) from K = tan(π fc/sr) and Q, all (B, 1)."""
    k_q = k / q
    d = 1.0 + k_q + k * k
    w2 = torch.clamp((2.0 * q - 1.0) * (2.0 * q + 1.0) / (q * q), min=W2_MIN)
    # log r from r² - 1 = -2K/(QD) (accurate for r near 1) or from r² = E/D (accurate for r near 0), with
    # E = (1 - K)² + K(2Q - 1)/Q ≥ 0 written without cancellation and floored so that log stays finite.
    r2m1 = -2.0 * k_q / d
    e = torch.clamp((1.0 - k) ** 2 + k * (2.0 * q - 1.0) / q, min=torch.finfo(k.dtype).tiny)
    log_r = 0.5 * torch.where(r2m1 > -0.5, torch.log1p(torch.clamp(r2m1, min=-0.5)), torch.log(e / d))
    return d, w2, log_r


def highpass_impulse_response(
    cutoff: torch.Tensor, q: torch.Tensor, sample_rate: float, n_samples: int
) -> torch.Tensor:
    """First ``n_samples`` taps of the high-pass impulse response in closed form.

    cutoff (Hz), q: (B,) with 0 < cutoff < sample_rate/2 and q ≥ 0.5 → (B, n_samples), cutoff's dtype.
    """
    n = torch.arange(n_samples - 1, device=cutoff.device, dtype=cutoff.dtype)  # m = tap index - 1
    k = torch.tan(math.pi * cutoff / sample_rate).unsqueeze(-1)
    q = q.unsqueeze(-1)
    d, w2, log_r = _pole_terms(k, q)
    # θ = φ for K ≤ 1, π - φ for K > 1 (poles near z = -1): cos(mθ) = σ^m cos(mφ), sin(mθ) = σ^{m+1} sin(mφ).
    phi = torch.atan2(k * torch.sqrt(w2), torch.abs(1.0 - k * k))
    sigma = torch.where(k > 1.0, -1.0, 1.0).to(k.dtype)
    sign_m = torch.where(k > 1.0, 1.0 - 2.0 * torch.remainder(n, 2.0), torch.ones_like(n))
    s = 2.0 * k + 1.0 / q
    phase = n * phi
    # Exponents floored at LOG_FLOOR: r^m below ~1e-26 is irrelevant and denormals are ~20x slower on CPUs.
    r_m = torch.exp(torch.clamp(n * log_r, min=LOG_FLOOR))
    r_m1 = torch.exp(torch.clamp((n - 1.0) * log_r, min=LOG_FLOOR))
    cos_part = -2.0 * s * r_m * torch.cos(phase)
    sin_part = sigma * (s * s - w2) * (k / d) * r_m1 * torch.sin(phase) / torch.sin(phi)
    tail = (k / (d * d)) * sign_m * (cos_part + sin_part)
    return torch.cat([1.0 / d, tail], dim=-1)


@torch.no_grad()
def response_length(cutoff: torch.Tensor, q: torch.Tensor, sample_rate: float, n_max: int, tol: float) -> int:
    """Taps L ≤ n_max after which Σ|h| over the rest is ≤ ``tol`` for every item (cutoff, q: (B,)).

    Bound from the closed form (|sin(mθ)/sin θ| ≤ m): Σ_{m≥L} |h[m+1]| ≤ K/D²·(2s·r^L/(1-r)
    + |s² - w²|·(K/D)·r^{L-1}·(L(1-r) + r)/(1-r)²).  Filtering with L taps then changes the output by at
    most tol·max|x|, so a short response (the usual case) needs a much shorter FFT and no wasted taps.
    """
    k = torch.tan(math.pi * cutoff.detach().to("cpu", torch.float64) / sample_rate).unsqueeze(-1)
    q = q.detach().to("cpu", torch.float64).unsqueeze(-1)
    d, w2, log_r = _pole_terms(k, q)
    one_m_r = -torch.expm1(log_r)
    s = 2.0 * k + 1.0 / q
    taps = torch.tensor([2.0**j for j in range(5, max(5, (n_max - 1).bit_length()))], dtype=torch.float64)
    bound = (k / (d * d)) * (
        2.0 * s * torch.exp(taps * log_r) / one_m_r
        + (s * s - w2).abs() * (k / d) * torch.exp((taps - 1.0) * log_r) * (taps * one_m_r + 1.0 - one_m_r)
        / one_m_r**2
    )  # fmt: skip
    ok = (bound <= tol).all(dim=0).nonzero()
    return min(n_max, int(taps[ok[0, 0]]) + 1) if len(ok) else n_max


def highpass_frequency_response(
    cutoff: torch.Tensor, q: torch.Tensor, sample_rate: float, n_fft: int
) -> torch.Tensor:
    """H(e^{jω}) at the ``n_fft // 2 + 1`` rfft bins, from the coefficients (the infinite response's DFT).

    cutoff, q: (B,) → (B, n_fft // 2 + 1) complex128.  H = (1 - z⁻¹)² / (D + 2(K² - 1) z⁻¹ + E z⁻²)
    with E = (1 - K)² + K(2Q - 1)/Q; evaluated in float64 (near a resonance the denominator is small).
    """
    k = torch.tan(math.pi * cutoff.double() / sample_rate).unsqueeze(-1)
    q = q.double().unsqueeze(-1)
    d = 1.0 + k / q + k * k
    e = (1.0 - k) ** 2 + k * (2.0 * q - 1.0) / q
    omega = torch.arange(n_fft // 2 + 1, device=k.device, dtype=torch.float64) * (2 * math.pi / n_fft)
    z1 = torch.polar(torch.ones_like(omega), -omega)  # e^{-jω}
    num = -4.0 * torch.sin(omega / 2) ** 2 * z1  # (1 - e^{-jω})²
    return num / (d + 2.0 * (k * k - 1.0) * z1 + e * z1 * z1)


def fft_convolve(x: torch.Tensor, h: torch.Tensor, n_out: int | None = None) -> torch.Tensor:
    """First ``n_out`` samples (default: x's length) of the causal linear convolution, zero beyond its end.

    x: (B, L), h: (B, M) → (B, n_out).  The FFT length is ≥ L + M - 1, so there is no circular wrap.
    """
    n_out = x.shape[-1] if n_out is None else n_out
    n_full = x.shape[-1] + h.shape[-1] - 1
    n_fft = next_fast_len(n_full, real=True)
    y = torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * torch.fft.rfft(h, n=n_fft), n=n_fft)
    return _fit(y[..., : min(n_full, n_out)], n_out)


def highpass(
    x: torch.Tensor,
    cutoff: torch.Tensor,
    q: torch.Tensor,
    sample_rate: float,
    clamp: bool = False,
    n_out: int | None = None,
) -> torch.Tensor:
    """High-pass filter each row of x: (B, L) with its own cutoff, q: (B,) → (B, n_out), n_out ≥ L.

    The input counts as zero after its L samples (pass only the non-negligible head of a decaying
    signal and the full output length as ``n_out``: the FFTs shrink accordingly).
    Equals ``scipy.signal.lfilter(*highpass_coefficients(...), x)`` (see tests) up to the dtype's
    epsilon: when the response decays within ``n_taps < n_out`` samples (its remaining sum below eps),
    the FFT of length ≥ L + n_taps - 1 multiplies by the filter's frequency response directly (what it
    wraps around is below eps); otherwise the exact first n_out taps are convolved.  ``clamp=True``
    clips the output to [-1, 1] like the reference's torchaudio call (zero gradient where clipped).
    """
    n_out = x.shape[-1] if n_out is None else n_out
    if n_out < x.shape[-1]:
        raise ValueError(f"n_out must be >= the input length {x.shape[-1]}, got {n_out}")
    n_taps = response_length(cutoff, q, sample_rate, n_out, tol=torch.finfo(x.dtype).eps)
    if n_taps >= n_out:
        y = fft_convolve(x, highpass_impulse_response(cutoff, q, sample_rate, n_taps), n_out)
    else:
        n_fft = next_fast_len(x.shape[-1] + n_taps - 1, real=True)
        response = highpass_frequency_response(cutoff, q, sample_rate, n_fft).to(_complex(x.dtype))
        y = _fit(torch.fft.irfft(torch.fft.rfft(x, n=n_fft) * response, n=n_fft), n_out)
    return y.clamp(-1.0, 1.0) if clamp else y


def _fit(y: torch.Tensor, n: int) -> torch.Tensor:
    """Cut or zero-pad the last axis of y to n samples."""
    return y[..., :n] if y.shape[-1] >= n else torch.nn.functional.pad(y, (0, n - y.shape[-1]))


def _complex(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64
