"""CQT front-end: kernels vs an independent float64 nnAudio-formula bank, librosa.cqt as a peer, capping."""

from __future__ import annotations

import math

import librosa
import numpy as np
import pytest
import torch

from scrapl_live.encoder.frontend import CQTConfig, CQTFrontEnd, effective_bandwidths
from tests.encoder.signals import chirp, hit

torch.set_num_threads(1)

TEXTURE = dict(sample_rate=8192, fmin=102.4, n_bins=60, bins_per_octave=12, hop=256)
TR808 = dict(sample_rate=44100, fmin=0.4 * 44100 / 2**9, n_bins=108, bins_per_octave=12, hop=256)


def _reference_bank(cfg: CQTConfig) -> np.ndarray:
    """Complex kernels (n_bins, width) float64 written from nnAudio's create_cqt_kernels recipe.

    Hann (scipy periodic) of length ceil(Q·sr/f) (capped), exp(2πi f n/sr), L1-normalised, times sqrt(l).
    The phase origin may differ by a constant per bin (irrelevant for magnitudes), so callers compare |·|
    of responses or kernels up to a unit-modulus factor.
    """
    from scipy.signal import get_window

    q = 1.0 / (2 ** (1 / cfg.bins_per_octave) - 1)
    freqs = cfg.fmin * 2.0 ** (np.arange(cfg.n_bins) / cfg.bins_per_octave)
    lengths = np.ceil(q * cfg.sample_rate / freqs)
    if cfg.max_kernel is not None:
        lengths = np.minimum(lengths, cfg.max_kernel)
    width = int(2 ** np.ceil(np.log2(lengths.max())))
    bank = np.zeros((cfg.n_bins, width), complex)
    for k, (f, l) in enumerate(zip(freqs, lengths.astype(int), strict=True)):
        start = int(math.ceil(width / 2 - l / 2)) - l % 2
        sig = get_window("hann", l, fftbins=True) * np.exp(2j * np.pi * f * np.arange(l) / cfg.sample_rate)
        bank[k, start : start + l] = sig / np.abs(sig).sum() * np.sqrt(l)
    return bank


@pytest.mark.parametrize("preset,cap", [(TEXTURE, None), (TR808, 2048), (TR808, 512)])
def test_kernels_match_independent_bank(preset: dict, cap: int | None) -> None:
    cfg = CQTConfig(**preset, max_kernel=cap)
    ours = CQTFrontEnd(cfg).kernels()[:, 0].double().numpy()
    ours = ours[: cfg.n_bins] + 1j * ours[cfg.n_bins :]
    ref = _reference_bank(cfg)
    assert ours.shape == ref.shape == (cfg.n_bins, cfg.width)
    # Same support and envelope; same carrier up to a constant phase per bin.
    np.testing.assert_allclose(np.abs(ours), np.abs(ref), atol=1e-6)
    rotation = np.sum(ours * np.conj(ref), axis=1) / np.sum(np.abs(ref) ** 2, axis=1)
    np.testing.assert_allclose(np.abs(rotation), 1.0, atol=1e-5)
    np.testing.assert_allclose(ours, ref * rotation[:, None], atol=2e-6)


@pytest.mark.parametrize(
    "preset,n,signal",
    [(TEXTURE, 32768, "chirp"), (TEXTURE, 32768, "hit"), (TR808, 44100, "chirp"), (TR808, 44100, "hit")],
)
def test_matches_librosa_cqt(preset: dict, n: int, signal: str) -> None:
    """Peer check against ``librosa.cqt`` (same fmin, bins, hop, Hann, filter_scale 1, scale=True,
    constant padding; no kernel cap).  Bins match one to one and both use the sqrt(length) scaling, so
    no per-bin rescaling is applied.  Asserted: Pearson correlation ≥ 0.99 of (a) the linear magnitudes
    and (b) the magnitudes in dB floored at -60 dB re each transform's maximum, over all (bin, frame)
    cells; and the total magnitude agrees within 10 %."""
    cfg = CQTConfig(**preset, pad_mode="constant")
    sr = cfg.sample_rate
    y = chirp(sr, n, cfg.fmin, 0.45 * sr) if signal == "chirp" else hit(sr, n)
    with torch.no_grad():
        ours = np.expm1(CQTFrontEnd(cfg)(torch.from_numpy(y)[None])[0, 0].double().numpy()) * cfg.log_eps
    ref = np.abs(
        librosa.cqt(
            y,
            sr=sr,
            hop_length=cfg.hop,
            fmin=cfg.fmin,
            n_bins=cfg.n_bins,
            bins_per_octave=cfg.bins_per_octave,
            pad_mode="constant",
        )
    )
    assert ours.shape == ref.shape == (cfg.n_bins, cfg.n_frames(n))
    assert np.corrcoef(ours.ravel(), ref.ravel())[0, 1] >= 0.99

    def db(c: np.ndarray) -> np.ndarray:
        return 20 * np.log10(np.maximum(c, 1e-3 * c.max()))

    assert np.corrcoef(db(ours).ravel(), db(ref).ravel())[0, 1] >= 0.99
    assert ours.sum() / ref.sum() == pytest.approx(1.0, rel=0.1)


def test_sine_peaks_at_its_bin() -> None:
    cfg = CQTConfig(**TEXTURE)
    n = 8192
    for k in (5, 23, 41, 58):
        f = cfg.frequencies()[k]
        x = torch.sin(2 * math.pi * f * torch.arange(n, dtype=torch.float64) / cfg.sample_rate).float()
        with torch.no_grad():
            spec = CQTFrontEnd(cfg)(x[None])[0, 0]
        assert spec.shape == (60, n // 256 + 1)
        assert int(spec[:, 16].argmax()) == k


def test_cap_only_changes_long_bins() -> None:
    """With max_kernel = 2048 the bins whose natural length ≤ 2048 are unchanged; the others widen."""
    natural = CQTConfig(**TR808, pad_mode="constant")
    capped = CQTConfig(**TR808, pad_mode="constant", max_kernel=2048)
    short = natural.lengths() <= 2048
    assert 0 < short.sum() < natural.n_bins
    np.testing.assert_array_equal(capped.lengths()[short], natural.lengths()[short])
    assert capped.width == 2048
    x = torch.from_numpy(hit(44100, 4096))[None]
    with torch.no_grad():
        a, b = CQTFrontEnd(natural)(x)[0, 0], CQTFrontEnd(capped)(x)[0, 0]
    torch.testing.assert_close(a[torch.from_numpy(short)], b[torch.from_numpy(short)], atol=1e-4, rtol=1e-4)
    bw = effective_bandwidths(capped)
    np.testing.assert_allclose(bw[~short], 2 * 44100 / 2048)
    assert np.all(bw[short] >= 2 * 44100 / 2048)


def test_bad_configs_and_inputs() -> None:
    with pytest.raises(ValueError, match="Nyquist"):
        CQTConfig(sample_rate=8192, fmin=1000.0, n_bins=60, bins_per_octave=12, hop=256)
    with pytest.raises(ValueError, match="pad_mode"):
        CQTConfig(**TEXTURE, pad_mode="wrap")
    with pytest.raises(ValueError, match="hop"):
        CQTConfig(**{**TEXTURE, "hop": 0})
    with pytest.raises(ValueError, match="reflect"):
        CQTFrontEnd(CQTConfig(**TEXTURE))(torch.zeros(1, 1000))
