"""JTFS API behaviour: input validation, modulus subgradient, path sharing, metadata, buffers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scrapl_live.scattering import JTFS, PathInfo
from scrapl_live.scattering.ops import decimate_spectrum, mixed_modulus_spectrum, modulus, modulus_spectrum
from scrapl_live.scattering.transform import frequential_matrix

TOY = dict(shape=1024, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1)
SMALL = dict(shape=4096, J=6, Q1=4, Q2=2, J_fr=2, Q_fr=1, T=64, F=4)


@pytest.fixture(scope="module")
def small() -> JTFS:
    torch.set_num_threads(1)
    return JTFS(**SMALL)


def test_modulus_value_and_zero_subgradient_at_zero() -> None:
    z = torch.tensor([0j, 3 + 4j], requires_grad=True)
    out = modulus(z)
    assert out.tolist() == pytest.approx([1e-12, 5.0])
    out.sum().backward()
    assert z.grad[0] == 0
    torch.testing.assert_close(z.grad[1], torch.tensor(0.6 + 0.8j))


def test_fourier_decimation_equals_time_decimation() -> None:
    x = torch.randn(3, 64, dtype=torch.complex128)
    y = torch.fft.ifft(decimate_spectrum(torch.fft.fft(x), 2))
    torch.testing.assert_close(y, x[:, ::4])


def test_several_paths_equal_single_paths(small: JTFS) -> None:
    x = torch.randn(2, SMALL["shape"])
    idx = [small.n_paths - 1, 0, 3, small.n_paths // 2, 1]
    many = small.paths(x, idx)
    s = small.scalogram(x, small.n1_max(idx))
    for p, coef in zip(idx, many, strict=True):
        single = small.scattering_singlepath(x, *small.scrapl_keys[p])["coef"]
        torch.testing.assert_close(coef, single, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(small.path_from_scalogram(s, p), single, rtol=1e-5, atol=1e-7)
        assert coef.shape == (2, 1, small.cfg.n_fr_pad // small.cfg.F, small.cfg.n_pad // small.cfg.T)


def test_full_transform_contains_the_unpadded_paths(small: JTFS) -> None:
    x = torch.randn(1, SMALL["shape"])
    full = small(x)
    n_first = len(small.cfg.first_order_n_fr)
    assert full.shape[1] == n_first + small.n_paths
    cut = slice(small.cfg.unpad_start, small.cfg.unpad_stop)
    for p in (0, small.n_paths - 1):
        torch.testing.assert_close(full[:, n_first + p], small.paths(x, [p])[0][:, 0, :, cut])


def test_full_transform_gradient_matches_path_gradients(small: JTFS) -> None:
    x = torch.randn(1, SMALL["shape"], requires_grad=True)
    n_first = len(small.cfg.first_order_n_fr)
    small(x)[:, n_first + 2].sum().backward()
    x2 = x.detach().clone().requires_grad_(True)
    small.paths(x2, [2])[0][..., small.cfg.unpad_start : small.cfg.unpad_stop].sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-4, atol=1e-9)


def test_n1_max_and_path_info(small: JTFS) -> None:
    j1 = [p.j for p in small.cfg.psi1]
    for p in (0, small.n_paths - 1):
        info = small.path_info(p, sample_rate=16000.0)
        assert isinstance(info, PathInfo) and (info.n2, info.n_fr) == small.scrapl_keys[p]
        assert info.n1_max == sum(j < info.j2 for j in j1) == small.n1_max([p])
        assert info.rate_hz == pytest.approx(info.xi2 * 16000.0)
        assert info.spin == (0 if info.n_fr == 0 else (1 if info.xi_fr > 0 else -1))
        assert info.scale_cycles_per_octave == pytest.approx(abs(info.xi_fr) * SMALL["Q1"])
    assert small.path_info(0).rate_hz is None


def test_filters_are_non_persistent_buffers_that_follow_to() -> None:
    jtfs = JTFS(**TOY)
    assert jtfs.state_dict() == {}
    jtfs = jtfs.double()
    x = torch.randn(1, TOY["shape"], dtype=torch.float64)
    assert jtfs.paths(x, [0])[0].dtype == torch.float64


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (torch.randn(1024), "x must be a"),
        (torch.randn(1, 1, 1024), "x must be a"),
        (torch.randn(1, 1000), "length"),
        (torch.randn(1, 1024, dtype=torch.float64), "dtype"),
        (torch.full((1, 1024), float("nan")), "NaN"),
    ],
)
def test_bad_input_raises(x: torch.Tensor, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        JTFS(**TOY).paths(x, [0])


def test_bad_indices_and_arguments_raise() -> None:
    jtfs = JTFS(**TOY)
    x = torch.randn(1, TOY["shape"])
    for bad in (-1, 7, 2.0, True):
        with pytest.raises(ValueError, match="path_indices"):
            jtfs.paths(x, [bad])
        with pytest.raises(ValueError, match="path_idx"):
            jtfs.path_info(bad)
    with pytest.raises(ValueError, match="n1_max"):
        jtfs.scalogram(x, 0)
    with pytest.raises(ValueError, match="needs"):
        jtfs.path_from_scalogram(jtfs.scalogram(x, 1), 0)
    with pytest.raises(ValueError, match="not a SCRAPL path"):
        jtfs.scattering_singlepath(x, 0, 0)
    with pytest.raises(ValueError, match="sample_rate"):
        jtfs.path_info(0, sample_rate=-1.0)
    for kwargs, name in [
        ({"J": 0}, "J"),
        ({"T": 4096}, "T"),
        ({"F": "global"}, "F"),
        ({"shape": 1.5}, "shape"),
    ]:
        with pytest.raises(ValueError, match=name):
            JTFS(**{**TOY, **kwargs})


@pytest.mark.parametrize(
    ("xis", "log2", "windowed"),
    [((0.05,), 2, True), ((0.05, 0.01), 3, True), ((0.3, 0.05, 0.01), 2, False), ((0.05,), 0, False)],
)
def test_filter_decimation_equals_dense(xis: tuple[float, ...], log2: int, windowed: bool) -> None:
    """Values and input gradients of the op (blocks next to DC, or the dense fallback) against
    decimate(fft(x) * h) with autograd, for a single filter and for a bank."""
    from scrapl_live.scattering import filters as fb
    from scrapl_live.scattering.filterops import FilterDecimate

    spectra = np.stack([fb.morlet_spectrum(256, xi, xi / 8) for xi in xis])
    bank = len(xis) > 1
    spectra = spectra if bank else spectra[0]
    op = FilterDecimate(spectra, log2)
    assert op.windowed == windowed
    x = torch.randn(2, 256, dtype=torch.float32, requires_grad=True)
    h = torch.from_numpy(spectra).float()
    z = torch.fft.fft(x)
    dense = decimate_spectrum((z.unsqueeze(1) if bank else z) * h, log2)
    got = op(torch.fft.rfft(x))
    torch.testing.assert_close(got, dense)
    g = torch.randn_like(dense)
    (g_dense,) = torch.autograd.grad(dense, x, g)
    (g_got,) = torch.autograd.grad(got, x, g)
    torch.testing.assert_close(g_got, g_dense)
    if bank:
        torch.testing.assert_close(op(torch.fft.rfft(x), 2), dense[:, :2])


def test_frequential_matrix_equals_the_fft_pipeline() -> None:
    """M @ y == ifft(decimate(fft(y zero-padded to N_fr) * psi_fr)) along n1, for the first n rows."""
    rng = np.random.default_rng(0)
    n_fr, n, log2_fr = 16, 5, 2
    psi = rng.standard_normal(n_fr)
    y = rng.standard_normal((n, 7)) + 1j * rng.standard_normal((n, 7))
    spectrum = np.fft.fft(y, n=n_fr, axis=0) * psi[:, None]
    expected = np.fft.ifft(spectrum.reshape(4, n_fr // 4, 7).mean(axis=0), axis=0)
    np.testing.assert_allclose(frequential_matrix(psi, log2_fr)[:, :n] @ y, expected, atol=1e-12)


@pytest.mark.parametrize("length", [16, 15])
def test_fused_modulus_spectra_match_autograd_of_the_plain_ops(length: int) -> None:
    """rfft(|z|) and rfft(|m @ y|) (row-chunked, recomputing m @ y) against plain torch ops, with grads."""
    gen = torch.Generator().manual_seed(0)
    z = torch.randn(3, length, dtype=torch.complex128, generator=gen, requires_grad=True)
    assert torch.autograd.gradcheck(modulus_spectrum, (z,))
    z_conj = z.detach().conj().requires_grad_()  # a conjugate view: the real-pair broadcasting resolves it
    assert torch.autograd.gradcheck(modulus, (z_conj,))
    assert torch.autograd.gradcheck(modulus_spectrum, (z_conj,))
    m = torch.randn(2, 5, 3, dtype=torch.complex128, generator=gen)
    y = torch.randn(4, 3, length, dtype=torch.complex128, generator=gen, requires_grad=True)
    g = torch.randn(4, 2, 5, length // 2 + 1, dtype=torch.complex128, generator=gen)
    plain = torch.fft.rfft(modulus(m @ y.unsqueeze(1)))
    fused = mixed_modulus_spectrum(m, y, max_elements=4 * 2 * 2 * length)  # chunks of 2 rows, last of 1
    torch.testing.assert_close(fused, plain)
    (expected,) = torch.autograd.grad(plain, y, g)
    (got,) = torch.autograd.grad(fused, y, g)
    torch.testing.assert_close(got, expected)
