"""Per-hit refinement: it recovers a synth's own hits and a decay time (closed form), is deterministic,
refines each hit independently of the others, ignores audio past a hit's end, and renders each refined
voice at its onset."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import synths
from scrapl_live.refine import HitRecorder, hit_targets, refine, refine_file
from scrapl_live.refine_loss import ENV_HOP, HitLoss, frame_level_db

N = 4096


def _targets(theta: np.ndarray, seed0: int = 0) -> np.ndarray:
    synth = synths.get("tr808", n_samples=N, pre_delay=0, max_shift=0)
    with torch.no_grad():
        x = synth(torch.from_numpy(theta), torch.arange(len(theta)) + seed0)[:, 0].numpy()
    return x / np.abs(x).max(axis=1, keepdims=True)


def _loss(theta: np.ndarray, x: np.ndarray, seed0: int = 0) -> np.ndarray:
    """The refinement loss of θ (B, U) against x (B, N), rendered here. -> (B,)"""
    synth = synths.get("tr808", n_samples=x.shape[1], pre_delay=0, max_shift=0)
    with torch.no_grad():
        y = synth(torch.from_numpy(theta), torch.arange(len(theta)) + seed0)
        return HitLoss(torch.from_numpy(x).unsqueeze(1))(y).numpy()


@pytest.fixture(scope="module")
def case() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.2, 0.8, (2, 14)).astype(np.float32)
    truth[:, 12] = 0.05  # little noise: the target is (nearly) a deterministic function of θ
    truth[:, 13] = 0.5  # tanh gain 0 dB
    return truth, _targets(truth)


def test_refinement_moves_toward_the_target(case) -> None:
    truth, x = case
    start = np.clip(truth + np.where(np.arange(14) % 2, 0.15, -0.15), 0.01, 0.99).astype(np.float32)
    res = refine(x, start, steps=40, progress=False, device="cpu")
    assert res.theta.shape == (2, 14) and ((res.theta > 0) & (res.theta < 1)).all()
    before, after = _loss(start, x), _loss(res.theta, x)
    assert (after < 0.7 * before).all()  # every hit's loss falls well below its start's
    assert np.allclose(res.loss, after, rtol=1e-4)  # the reported loss is the one rendered here


def test_refinement_recovers_a_decay_time() -> None:
    """One decaying sine (200 Hz, 300 ms to -60 dB): refined from a 100 ms start, the resynthesis's level
    falls at the closed-form rate 60 dB / 300 ms."""
    n, sr = 8192, 44100  # the tail stays 35 dB above the level floor
    truth = np.zeros((1, 14), np.float32)
    truth[0, [0, 1, 5, 10, 13]] = [180 / 1980, 1 / 3, 290 / 1990, 48 / 66, 0.5]  # 200 Hz, no pitch env,
    # 300 ms, -12 dB (osc 2 and noise at -60 dB), waveshaper at 0 dB
    start = truth.copy()
    start[0, 5] = 90 / 1990  # 100 ms
    synth = synths.get("tr808", n_samples=n, pre_delay=0, max_shift=0)

    def slope(theta: np.ndarray) -> float:  # dB per envelope hop, least squares past the attack
        with torch.no_grad():
            level = frame_level_db(synth(torch.from_numpy(theta), torch.tensor([0]))[:, 0])[0, 2:].numpy()
        return float(np.polyfit(np.arange(level.size), level, 1)[0])

    closed = -60.0 / 300.0 * ENV_HOP / sr * 1000.0
    assert abs(slope(truth) - closed) < 0.02 * abs(closed)  # the target decays as the closed form says
    assert abs(slope(start) - closed) > 0.5 * abs(closed)  # the start: 3x too fast (its tail hits the floor)
    with torch.no_grad():
        x = synth(torch.from_numpy(truth), torch.tensor([0]))[:, 0].numpy()
    res = refine(x, start, steps=40, progress=False, device="cpu")
    assert abs(slope(res.theta) - closed) < 0.1 * abs(closed)


def test_hits_are_refined_independently_of_the_others(case) -> None:
    truth, x = case
    start = np.clip(truth + 0.1, 0.01, 0.99).astype(np.float32)
    lengths = np.array([N // 2, N])  # two rendered lengths: two synth calls
    pair = refine(x, start, lengths, steps=1, progress=False, device="cpu")
    third = np.concatenate([x, x[:1]])  # a third hit joins the second's synth call
    trio = refine(third, np.concatenate([start, start[:1]]), np.append(lengths, N), steps=1, progress=False,
                  device="cpu")  # fmt: skip
    # one Adam step (≈ lr·sign of each gradient): equal to float rounding (later steps amplify rounding)
    assert np.allclose(trio.theta[:2], pair.theta, atol=1e-5)
    assert not np.allclose(pair.theta, start, atol=1e-2)
    assert np.allclose(trio.loss[:2], pair.loss, rtol=1e-5)


def test_refinement_is_deterministic_and_starts_pick_the_best(case) -> None:
    _, x = case
    a = refine(x, None, steps=5, starts=3, seed=7, progress=False, device="cpu")
    b = refine(x, None, steps=5, starts=3, seed=7, progress=False, device="cpu")
    assert np.array_equal(a.theta, b.theta) and np.array_equal(a.loss, b.loss)
    c = refine(x, None, steps=5, starts=3, seed=8, progress=False, device="cpu")
    assert not np.array_equal(a.theta, c.theta)
    for i in range(2):  # the reported loss is the winner's, rendered independently
        seed0 = i + 7 * 1_000_003
        assert np.isclose(_loss(a.theta[i : i + 1], x[i : i + 1], seed0)[0], a.loss[i], rtol=1e-4)
    start = np.full((2, 14), 0.5, np.float32)
    alone = refine(x, start, steps=0, progress=False, device="cpu").loss
    best = refine(x, start, steps=0, starts=4, progress=False, device="cpu").loss  # θ̂ + 3 random draws
    assert (best <= alone + 1e-6).all() and (best < alone - 1e-3).any()


def test_audio_past_a_hit_is_ignored(case) -> None:
    truth, x = case
    lengths = np.array([N // 2, N // 2])
    y = x.copy()
    y[:, N // 2 :] = np.random.default_rng(1).normal(size=(2, N // 2))  # the next hit's audio
    a = refine(x, truth, lengths, steps=3, progress=False, device="cpu")
    b = refine(y, truth, lengths, steps=3, progress=False, device="cpu")
    assert np.array_equal(a.theta, b.theta)
    with pytest.raises(ValueError, match="steps"):
        refine(x, truth, steps=-1, progress=False)


def test_hit_targets_cut_at_the_next_onset_and_normalise() -> None:
    audio = np.zeros(20000, np.float32)
    audio[1000:1100], audio[5000:5050] = 0.5, -0.25
    t, n = hit_targets(audio, [5000, 1000], 8000)
    assert n.tolist() == [4000, 8000]  # sorted; the first ends at the second's onset
    assert t.shape == (2, 8000) and t[0, :100].tolist() == [1.0] * 100 and not t[0, 4000:].any()
    assert t[1, :50].tolist() == [-1.0] * 50


def test_refine_file_renders_each_voice_at_its_onset() -> None:
    sr = 44100
    theta = np.full((2, 14), 0.5, np.float32)
    theta[:, 7] = 0.0  # short noise
    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    with torch.no_grad():
        voice = synth(torch.from_numpy(theta[:1]), torch.tensor([0]))[0, 0].numpy()
    audio = np.zeros(sr, np.float32)
    audio[3000:] += 0.5 * voice[: sr - 3000] / np.abs(voice).max()
    rec = HitRecorder()
    for i, onset in enumerate([3000, 30000]):
        ev = type("E", (), {"hit_id": i, "t_samples": onset, "theta": theta[i]})()
        rec.on_hit(ev)
    out, res = refine_file(audio, sr, list(rec.hits.values()), steps=2, progress=False)
    assert out.shape == audio.shape and res.theta.shape == (2, 14)
    assert not out[:3000].any() and np.abs(out[3000:3100]).max() > 0
    assert np.isclose(np.abs(out[3000:30000]).max(), 0.5, rtol=1e-3)  # at the input hit's peak level
    with pytest.raises(ValueError, match="44100"):
        refine_file(audio, 48000, [(0, theta[0])], progress=False)


def test_resynth_refine_command(tmp_path, capsys) -> None:
    from scrapl_live.audio import load_audio, save_audio
    from scrapl_live.cli import main

    theta = np.full((1, 14), 0.5, np.float32)
    with torch.no_grad():
        hit = synths.get("tr808", pre_delay=0, max_shift=0)(torch.from_numpy(theta), torch.tensor([0]))[0, 0]
    audio = np.zeros(2 * 44100, np.float32)
    audio[11025 : 11025 + 44100] = 0.5 * hit.numpy() / float(hit.abs().max())
    save_audio(tmp_path / "in.wav", audio, 44100)
    assert main(["resynth", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"), "--refine", "3"]) == 0
    out, sr = load_audio(tmp_path / "out.wav")
    assert sr == 44100 and out.size >= audio.size
    assert np.abs(out[:10000]).max() < 1e-3 and np.isclose(np.abs(out).max(), 0.5, rtol=0.05)
    granular = Path(__file__).resolve().parents[1] / "models" / "granular.onnx"
    capsys.readouterr()
    assert main(["resynth", str(tmp_path / "in.wav"), "-o", str(tmp_path / "g.wav"), "--refine",
                 "--model", str(granular)]) != 0  # fmt: skip
    assert "--refine needs a tr808 model" in capsys.readouterr().err and not (tmp_path / "g.wav").exists()
