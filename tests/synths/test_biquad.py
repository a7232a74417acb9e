"""The closed-form FFT biquad high-pass against scipy's sequential lfilter (the peer)."""

import numpy as np
import pytest
import scipy.signal
import torch

from synths.biquad import (
    fft_convolve,
    highpass,
    highpass_coefficients,
    highpass_frequency_response,
    highpass_impulse_response,
    response_length,
)

SR = 44100
N = 44100
CUTOFFS = [20.0, 55.0, 200.0, 1000.0, 5000.0, 11025.0, 15000.0, 20000.0, 21609.0]
QS = [0.5, 0.5001, 0.707, 1.0, 3.0, 10.0]


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """Decaying uniform noise, the 808's filter input. (N,) float64."""
    rng = np.random.default_rng(0)
    return rng.uniform(-1, 1, N) * np.exp(-np.arange(N) / 8000.0)


@pytest.mark.parametrize("dtype, tol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_matches_lfilter_over_cutoff_q_grid(signal: np.ndarray, dtype: torch.dtype, tol: float) -> None:
    torch.set_num_threads(1)
    fc, q = (torch.tensor(v, dtype=dtype) for v in zip(*[(f, q) for f in CUTOFFS for q in QS], strict=True))
    x = torch.tensor(signal, dtype=dtype).expand(len(fc), -1)
    y = highpass(x, fc, q, SR).double().numpy()
    b, a = highpass_coefficients(fc.double(), q.double(), SR)
    for i in range(len(fc)):
        ref = scipy.signal.lfilter(b[i].numpy(), a[i].numpy(), signal)
        err = np.abs(y[i] - ref).max()
        assert err < tol, f"cutoff {fc[i].item()} Hz, Q {q[i].item()}: max abs error {err:.2e}"


def test_impulse_response_matches_lfilter() -> None:
    fc = torch.tensor([20.0, 11025.0, 21000.0], dtype=torch.float64)
    q = torch.tensor([10.0, 0.5, 0.5], dtype=torch.float64)
    h = highpass_impulse_response(fc, q, SR, 4096).numpy()
    b, a = highpass_coefficients(fc, q, SR)
    impulse = np.zeros(4096)
    impulse[0] = 1.0
    for i in range(3):
        np.testing.assert_allclose(
            h[i], scipy.signal.lfilter(b[i].numpy(), a[i].numpy(), impulse), atol=1e-10
        )


def test_highpass_blocks_dc_and_passes_nyquist() -> None:
    fc, q = torch.tensor([1000.0], dtype=torch.float64), torch.tensor([0.707], dtype=torch.float64)
    h = highpass_impulse_response(fc, q, SR, N)
    assert abs(h.sum().item()) < 1e-9  # H(1) = 0
    alt = (-1.0) ** torch.arange(N, dtype=torch.float64)
    assert (h * alt).sum().item() == pytest.approx(1.0, abs=1e-9)  # H(-1) = 1


def test_fft_convolve_is_linear_not_circular() -> None:
    x = torch.zeros(1, 64, dtype=torch.float64)
    x[0, 60] = 1.0
    h = torch.arange(1.0, 11.0, dtype=torch.float64).unsqueeze(0)
    y = fft_convolve(x, h)
    expected = torch.zeros(1, 64, dtype=torch.float64)
    expected[0, 60:] = h[0, :4]
    torch.testing.assert_close(y, expected)


@pytest.mark.parametrize("cutoffs, qs", [((300.0, 200.0), (0.6, 8.0)), ((5000.0, 15000.0), (0.7, 2.0))])
def test_gradcheck_cutoff_and_q(cutoffs: tuple[float, float], qs: tuple[float, float]) -> None:
    """Both paths: long responses (exact taps) and short ones (frequency response)."""
    x = torch.randn(2, 512, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    fc = torch.tensor(cutoffs, dtype=torch.float64, requires_grad=True)
    q = torch.tensor(qs, dtype=torch.float64, requires_grad=True)
    n_taps = response_length(fc, q, SR, 512, tol=2.2e-16)
    assert (n_taps == 512) == (cutoffs[0] == 300.0)
    assert torch.autograd.gradcheck(lambda f, r: highpass(x, f, r, SR), (fc, q))


def test_gradients_finite_at_double_pole() -> None:
    """Q = 0.5 (coincident poles) and K = 1 (poles at the origin) stay finite and differentiable."""
    fc = torch.tensor([20.0, 11025.0], dtype=torch.float64, requires_grad=True)
    q = torch.tensor([0.5, 0.5], dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 4096, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    highpass(x, fc, q, SR).pow(2).sum().backward()
    assert torch.isfinite(fc.grad).all() and (fc.grad != 0).all()
    assert torch.isfinite(q.grad).all() and (q.grad != 0).all()


def test_clamp_flag_clips_like_the_reference() -> None:
    x = 4.0 * torch.randn(1, 2048, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    fc, q = torch.tensor([3000.0], dtype=torch.float64), torch.tensor([5.0], dtype=torch.float64)
    free, clipped = highpass(x, fc, q, SR), highpass(x, fc, q, SR, clamp=True)
    assert free.abs().max() > 1.0
    torch.testing.assert_close(clipped, free.clamp(-1, 1))


def test_short_input_extended_to_output_length(signal: np.ndarray) -> None:
    """A decaying head of length L filtered to n_out > L equals lfilter of the zero-padded input."""
    fc = torch.tensor([50.0, 4000.0], dtype=torch.float64)
    q = torch.tensor([8.0, 0.7], dtype=torch.float64)
    head = torch.tensor(signal[:3000], dtype=torch.float64).expand(2, -1)
    y = highpass(head, fc, q, SR, n_out=N).numpy()
    b, a = highpass_coefficients(fc, q, SR)
    padded = np.concatenate([signal[:3000], np.zeros(N - 3000)])
    for i in range(2):
        np.testing.assert_allclose(y[i], scipy.signal.lfilter(b[i].numpy(), a[i].numpy(), padded), atol=1e-9)
    with pytest.raises(ValueError, match="n_out"):
        highpass(head, fc, q, SR, n_out=100)


def test_frequency_response_is_the_dft_of_the_impulse_response() -> None:
    fc = torch.tensor([3000.0, 21000.0], dtype=torch.float64)
    q = torch.tensor([0.7, 4.0], dtype=torch.float64)
    h = highpass_impulse_response(fc, q, SR, 4096)
    torch.testing.assert_close(
        highpass_frequency_response(fc, q, SR, 4096), torch.fft.rfft(h), atol=1e-9, rtol=0
    )
