"""TR-808 voice: signal flow against a NumPy port of the reference algorithm, plus closed-form checks."""

import numpy as np
import pytest
import scipy.signal
import torch

import synths
from synths.biquad import highpass_coefficients
from synths.tr808 import TR808

SR = 44100
NAMES = [
    "osc1_freq", "osc1_mod", "osc2_freq", "osc2_mod", "freq_decay", "osc1_decay", "osc2_decay",
    "noise_decay", "noise_freq", "noise_q", "osc1_gain", "osc2_gain", "noise_gain", "tanh_gain",
]  # fmt: skip


def reference_808(p: dict[str, float], noise: np.ndarray, clamp: bool) -> np.ndarray:
    """Straight NumPy port of the reference's Snare808 (cumsum phase, sequential lfilter). (N,)"""
    n = len(noise)
    attack = np.linspace(0.0, 1.0, 44)

    def env(decay_ms: float) -> np.ndarray:
        r = 1.0 - 6.91 / (decay_ms * SR / 1000.0)
        return np.concatenate([attack, r ** np.arange(n - 44)])

    def osc(freq: float, mod: float, env_f: np.ndarray) -> np.ndarray:
        w0 = 2 * np.pi * freq / SR
        return np.sin(np.cumsum(np.concatenate([[0.0], w0 + env_f * mod * w0]))[:-1])

    def db(g: float) -> float:
        return 10 ** (g / 20)

    env_f = env(p["freq_decay"])
    y = db(p["osc1_gain"]) * osc(p["osc1_freq"], p["osc1_mod"], env_f) * env(p["osc1_decay"])
    y = y + db(p["osc2_gain"]) * osc(p["osc2_freq"], p["osc2_mod"], env_f) * env(p["osc2_decay"])
    b, a = highpass_coefficients(
        torch.tensor([p["noise_freq"]], dtype=torch.float64),
        torch.tensor([p["noise_q"]], dtype=torch.float64),
        SR,
    )
    filtered = scipy.signal.lfilter(b[0].numpy(), a[0].numpy(), noise * env(p["noise_decay"]))
    if clamp:
        filtered = np.clip(filtered, -1, 1)
    return np.tanh(db(p["tanh_gain"]) * (y + db(p["noise_gain"]) * filtered))


def test_parameters_names_order_ranges() -> None:
    s = synths.get("tr808")
    assert s.param_names == NAMES
    ranges = {p.name: (p.min, p.max) for p in s.params}
    assert ranges["osc1_freq"] == (20.0, 2000.0) and ranges["osc2_mod"] == (-1.0, 2.0)
    assert ranges["noise_decay"] == (10.0, 2000.0) and ranges["noise_freq"] == (20.0, 22050.0)
    assert ranges["noise_q"] == (0.5, 10.0) and ranges["noise_gain"] == (-60.0, 6.0)
    assert ranges["tanh_gain"] == (-24.0, 24.0)
    assert all(p.scale == "linear" for p in s.params)
    assert (s.sample_rate, s.n_samples) == (44100, 44100)


@pytest.mark.parametrize("clamp", [True, False])
def test_matches_reference_signal_flow(clamp: bool) -> None:
    torch.set_num_threads(1)
    s = TR808(fixed_noise=True, noise_seed=7, pre_delay=0, max_shift=0, clamp_noise=clamp)
    theta = torch.rand(3, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    theta[:, 8] = theta[:, 8] * 0.6  # cutoff ≤ 13 kHz, where the Nyquist guard is the identity
    theta[2, 13] = 1.0  # +24 dB into the tanh
    y = s(theta, torch.arange(3)).squeeze(1).numpy()
    phys = s.to_physical(theta)
    for i in range(3):
        ref = reference_808({k: v[i].item() for k, v in phys.items()}, s.noise.double().numpy(), clamp)
        np.testing.assert_allclose(y[i], ref, atol=1e-6, err_msg=f"item {i}")


def _solo_osc1(freq: float, mod: float, decay_ms: float) -> np.ndarray:
    """osc1 alone (other voices at -60 dB with 10 ms decays), tanh nearly linear (-24 dB). (N,)"""
    s = TR808(pre_delay=0, max_shift=0)
    values = dict(osc1_freq=freq, osc1_mod=mod, osc1_decay=decay_ms, osc2_gain=-60.0, osc2_decay=10.0)
    values |= dict(noise_gain=-60.0, noise_decay=10.0, tanh_gain=-24.0, freq_decay=10.0, osc1_gain=0.0)
    return s.render(seed=0, **values).double().numpy() / 10 ** (-24 / 20)


def test_envelope_is_minus_60_db_at_decay_time() -> None:
    decay_ms = 500.0
    y = _solo_osc1(440.0, 0.0, decay_ms)
    envelope = np.abs(scipy.signal.hilbert(y))
    at_decay = 44 + int(decay_ms * SR / 1000)
    r = 1 - 6.91 / (decay_ms * SR / 1000)
    for n in (150, 5000, 15000):  # osc1 at 0 dB: the envelope itself, r^(n - 44) after the attack
        assert np.median(envelope[n - 20 : n + 20]) == pytest.approx(r ** (n - 44), rel=0.01)
    level = 20 * np.log10(np.median(envelope[at_decay - 50 : at_decay + 50]))
    assert level == pytest.approx(-60.0, abs=0.2)


@pytest.mark.parametrize("freq", [55.0, 440.0, 1234.0])
def test_oscillator_frequency_without_modulation(freq: float) -> None:
    y = _solo_osc1(freq, 0.0, 2000.0)
    spec = np.abs(np.fft.rfft(y * np.hanning(len(y)), n=8 * len(y)))
    peak = np.argmax(spec) * SR / (8 * len(y))
    assert peak == pytest.approx(freq, abs=0.5)


def test_pitch_envelope_raises_the_start_frequency() -> None:
    """mod = 1 doubles the frequency at the envelope's peak, falling back to f0 as it decays."""
    s = TR808(pre_delay=0, max_shift=0)
    values = dict(osc1_freq=200.0, osc1_mod=1.0, freq_decay=2000.0, osc2_gain=-60.0, noise_gain=-60.0)
    y = s.render(seed=0, tanh_gain=-24.0, osc1_decay=2000.0, osc2_decay=10.0, noise_decay=10.0, **values)
    phase = np.unwrap(np.angle(scipy.signal.hilbert(y.double().numpy())))
    inst = np.diff(phase) * SR / (2 * np.pi)
    r = 1 - 6.91 / (2000 * SR / 1000)
    for n in (2000, 20000):
        expected = 200.0 * (1 + r ** (n - 44))
        assert np.median(inst[n - 100 : n + 100]) == pytest.approx(expected, rel=0.01)


def test_output_bounded_by_tanh() -> None:
    s = synths.get("tr808")
    y = s(torch.ones(2, 14), torch.tensor([0, 1]))
    assert torch.isfinite(y).all() and y.abs().max() <= 1.0


def test_cutoff_stays_below_nyquist_with_gradient() -> None:
    s = synths.get("tr808")
    fc = torch.tensor([20.0, 10000.0, 22050.0], requires_grad=True)
    eff = s.cutoff(fc)
    assert eff[1].item() == pytest.approx(10000.0) and (eff < 0.49 * SR).all()
    eff.sum().backward()
    assert (fc.grad > 0).all()


def test_noise_drawn_per_item_from_seed() -> None:
    s = TR808(pre_delay=0, max_shift=0)
    theta = torch.full((3, 14), 0.5)
    theta[:, 12] = 1.0  # loud noise
    y = s(theta, torch.tensor([1, 2, 1]))
    # Same seed, same sound (to FFT rounding: batched FFT rows may take different SIMD paths).
    torch.testing.assert_close(y[0], y[2], atol=1e-6, rtol=0)
    assert not torch.allclose(y[0], y[1], atol=1e-3)
    fixed = TR808(pre_delay=0, max_shift=0, fixed_noise=True)
    y = fixed(theta, torch.tensor([1, 2, 1]))
    torch.testing.assert_close(y[0], y[1], atol=1e-6, rtol=0)


def test_batch_equals_single_items() -> None:
    s = synths.get("tr808", time_shift="meso")
    theta = torch.rand(4, 14, generator=torch.Generator().manual_seed(4))
    seed = torch.tensor([10, 11, 12, 13])
    y = s(theta, seed)
    for i in range(4):
        torch.testing.assert_close(y[i], s(theta[i : i + 1], seed[i : i + 1])[0], atol=1e-6, rtol=0)


def test_micro_and_meso_time_shift() -> None:
    theta = torch.rand(3, 14, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    seed = torch.tensor([3, 4, 5])
    plain = TR808(pre_delay=0, max_shift=0)(theta, seed)[:, 0]
    micro = synths.get("tr808")(theta, seed)[:, 0]  # δ = 0: delayed by the reference's 2048
    torch.testing.assert_close(micro[:, 2048:], plain[:, :-2048])
    assert (micro[:, :2048] == 0).all()
    shift = torch.tensor([-2048, 0, 2048])
    shifted = synths.get("tr808")(theta, seed, shift)[:, 0]
    for i, d in enumerate((shift + 2048).tolist()):
        torch.testing.assert_close(shifted[i, d:], plain[i, : 44100 - d])
        assert (shifted[i, :d] == 0).all()
    meso = synths.get("tr808", time_shift="meso")
    a, b = meso(theta, seed)[:, 0], meso(theta, seed)[:, 0]
    assert torch.equal(a, b)
    delays = [int((row != 0).float().argmax()) for row in a]  # first non-zero sample = 2048 + δ
    assert all(0 <= d <= 4096 for d in delays) and len(set(delays)) > 1


def test_shift_out_of_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="shift"):
        synths.get("tr808")(torch.rand(1, 14), torch.tensor([0]), torch.tensor([3000]))
