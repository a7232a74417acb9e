"""Texture mode follows its input: θ̂ tracks a time-varying texture, the voice starts at once, a steady
input gives a steady texture, velocity is the input's level (shipped granular encoder, real engine)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import synths
from scrapl_live.audio import resample
from scrapl_live.live.engine import Engine
from scrapl_live.live.offline import run_blocks
from scrapl_live.live.texture import GranularVoice, window_for_encoder

MODEL = Path(__file__).resolve().parents[2] / "models" / "granular.onnx"
SR, BLOCK = 22050, 256
GRAN = synths.get("granular").eval()
W = GRAN.n_samples  # 4 s at the synth's 8192 Hz


def _amplitudes(density: float) -> np.ndarray:
    with torch.no_grad():
        return GRAN.amplitudes(torch.tensor([density]))[0].numpy()


def _run(x: np.ndarray, **kw) -> tuple[Engine, np.ndarray, list]:
    """Feed x (engine rate) block by block; returns the engine, its output and every texture frame."""
    torch.set_num_threads(1)
    eng = Engine(MODEL, SR, BLOCK, **kw)
    return eng, *run_blocks(eng, x)


def _envelope(y: np.ndarray) -> np.ndarray:
    """RMS over 50 ms frames, every 10 ms."""
    k = SR // 20
    return np.sqrt(np.convolve(y.astype(np.float64) ** 2, np.ones(k) / k, "valid"))[:: SR // 100]


def _modulation(y: np.ndarray) -> float:
    e = _envelope(y)
    return float(e.std() / e.mean())


def test_theta_tracks_a_texture_whose_density_and_slope_change() -> None:
    """Synth clips back to back, each with its own (density, slope): every full-window frame's θ̂ against
    the window's mean θ (what the window holds, i.e. θ after the window's delay)."""
    theta = np.array([[0.2, 0.7], [0.8, 0.3], [0.5, 0.85], [0.9, 0.2], [0.3, 0.5], [0.65, 0.4],
                      [0.1, 0.25], [0.75, 0.75]], np.float32)
    with torch.no_grad():
        clips = GRAN(torch.from_numpy(theta), torch.arange(len(theta)))[:, 0].numpy()
    x = resample(0.1 * clips.reshape(-1) / np.abs(clips).max(), GRAN.sample_rate, SR)
    per_sample = np.repeat(theta, W, axis=0)  # θ at each input sample, synth rate
    eng, _, frames = _run(x, play_voices=False)
    full = [e for e in frames if e.t_samples >= 0]
    assert len(full) >= 40
    cum = np.concatenate([np.zeros((1, 2)), np.cumsum(per_sample, axis=0)])
    a = np.array([round(e.t_samples * GRAN.sample_rate / SR) for e in full])
    truth = (cum[a + W] - cum[a]) / W
    est = np.array([e.theta for e in full])
    for i, name in enumerate(("density", "slope")):
        r = np.corrcoef(est[:, i], truth[:, i])[0, 1]
        assert r >= 0.9, f"{name}: correlation {r:.3f}"


def _chord(seconds: float, level: float = 0.03) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (level * sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0))).astype(np.float32)


def test_steady_input_gives_steady_parameters_and_texture_from_the_first_blocks() -> None:
    x = _chord(8.0)
    _, out, frames = _run(x)
    thetas = np.array([e.theta for e in frames if e.t_samples >= 0])
    assert thetas.std(axis=0).max() < 0.05  # θ̂ of a steady input does not wander
    steady = float(np.sqrt(np.mean(out[2 * SR :] ** 2)))
    assert steady > 0.2 * float(np.sqrt(np.mean(x**2)))
    # the voice plays from the first blocks (not after the first full hop + a gain ramp)
    assert float(np.sqrt(np.mean(out[SR // 20 : SR // 4] ** 2))) > 0.15 * steady
    # and it does not pulse: its envelope varies less than the batch synth's own clips at that θ
    with torch.no_grad():
        clips = GRAN(torch.from_numpy(np.repeat(thetas.mean(0, keepdims=True), 6, 0)), torch.arange(6))
    synth_mod = np.mean([_modulation(resample(c[0].numpy(), GRAN.sample_rate, SR)[SR // 2 : -SR // 2])
                         for c in clips])
    assert _modulation(out[2 * SR :]) < synth_mod


@pytest.mark.parametrize("density", [0.3, 0.6, 0.9])
def test_voice_is_steadier_than_the_synth_it_follows_and_keeps_its_level(density: float) -> None:
    voice = GranularVoice(SR, BLOCK, _amplitudes, seed=1)
    out = np.zeros(20 * SR, np.float32)
    for i in range(0, out.size, BLOCK):
        voice.render_into(out[i : i + BLOCK], density, 0.5, 0.05)
    with torch.no_grad():
        clips = GRAN(torch.tensor([[density, 0.55]] * 6), torch.arange(6))[:, 0].numpy()
    synth_mod = np.mean([_modulation(resample(c, GRAN.sample_rate, SR)[SR // 2 : -SR // 2]) for c in clips])
    assert _modulation(out[SR:]) < 0.8 * synth_mod
    rms = float(np.sqrt(np.mean(out[SR:] ** 2)))
    assert 0.05 / 1.5 < rms < 0.05 * 1.5  # expected_rms is still the long-run level
    assert float(np.sqrt(np.mean(out[: SR // 10] ** 2))) > 0.3 * rms  # grains already overlapping


def test_audible_grains_closed_form() -> None:
    voice = GranularVoice(SR, BLOCK, _amplitudes)
    n, amp = voice.audible(1.0)  # all 64 grains at amplitude 1
    assert n == pytest.approx(64.0) and amp == pytest.approx(1.0)
    a = _amplitudes(0.4).astype(np.float64)
    n, amp = voice.audible(0.4)
    assert n * amp**2 == pytest.approx(float((a**2).sum()))  # the synth's power is kept


def test_velocity_is_the_input_level() -> None:
    x = _chord(3.0, 0.01)
    _, _, quiet = _run(x, play_voices=False)
    _, _, loud = _run(10 * x, play_voices=False)
    vq, vl = np.array([e.velocity for e in quiet]), np.array([e.velocity for e in loud])
    assert len(vq) and (vq > 0).all()
    np.testing.assert_allclose(vl - vq, 20 / 60, atol=1e-3)  # +20 dB on a 60 dB scale
    np.testing.assert_allclose([e.theta for e in loud], [e.theta for e in quiet], atol=1e-4)  # level-free


def test_encoder_view_repeats_a_partial_window_and_has_unit_norm() -> None:
    heard = np.arange(1, 4, dtype=np.float32)
    x = window_for_encoder(heard, 8)
    np.testing.assert_allclose(x * np.linalg.norm(np.resize(heard, 8)), np.resize(heard, 8), rtol=1e-6)
    assert float(np.linalg.norm(x)) == pytest.approx(1.0)
    long = np.arange(20, dtype=np.float32) + 1
    np.testing.assert_allclose(window_for_encoder(long, 8) * np.linalg.norm(long[-8:]), long[-8:], rtol=1e-6)


def test_different_inputs_give_different_textures() -> None:
    rng = np.random.default_rng(0)
    noise = (0.05 * rng.standard_normal(6 * SR)).astype(np.float32)
    with torch.no_grad():
        dense = GRAN(torch.tensor([[0.9, 0.8]]), torch.tensor([0]))[0, 0].numpy()
    dense = resample(0.1 * np.tile(dense, 2) / np.abs(dense).max(), GRAN.sample_rate, SR)[: 6 * SR]
    inputs = (noise, _chord(6.0), dense)
    first = [np.array([e.theta for e in _run(x, play_voices=False)[2][:3]]) for x in inputs]
    for i in range(3):
        for j in range(i + 1, 3):
            assert np.abs(first[i] - first[j]).max() > 0.1  # the first frames already differ
