"""Streaming onset detector: F1 and placement on generated and real hits, no retrigger in a decay,
onsets at sample 0 and at the end of a stream, block-size invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scrapl_live.live.onset import OnsetDetector
from tests.live.signals import (
    HYDROGEN,
    PRE_ROLL_S,
    audible,
    hit_sequence,
    load_shots,
    mix_shots,
    onset_f1,
    shot_events,
)


def _detect(x: np.ndarray, sr: int, block: int, flush: bool = True) -> np.ndarray:
    det = OnsetDetector(sr)
    found: list[int] = []
    for i in range(0, x.size, block):
        found += det.process(x[i : i + block])
    return np.array(found + (det.flush() if flush else []), np.int64)


def _placement(found: np.ndarray, onsets: np.ndarray, sr: int) -> np.ndarray:
    """|nearest found - true| in samples of the true onsets found within 10 ms."""
    err = np.array([np.abs(found - t).min() if found.size else sr for t in onsets])
    return err[err <= 0.010 * sr]


def _decaying_hit(sr: int, seconds: float = 1.5, seed: int = 0) -> np.ndarray:
    """A synthetic tom: 2 ms noise click, two beating resonant partials (110/113 Hz, the envelope
    rises and falls 3×/s) and a 1.2 kHz ring, all decaying exponentially (n,) float64."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    body = np.sin(2 * np.pi * 110 * t) + np.sin(2 * np.pi * 113 * t) + 0.3 * np.sin(2 * np.pi * 1200 * t)
    x = body * np.exp(-t / 0.35)
    n_click = int(0.002 * sr)
    x[:n_click] += rng.standard_normal(n_click) * np.linspace(1.0, 0.0, n_click)
    return x / np.abs(x).max()


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_f1_and_placement_on_808_sequence_with_quiet_hits(sample_rate: int) -> None:
    torch.set_num_threads(1)
    x, onsets = hit_sequence(60, sample_rate, seed=3, noise_db=-60.0, levels_db=(-40.0, 0.0))
    found = _detect(x, sample_rate, 256)
    p, r, f1 = onset_f1(found, onsets, int(0.010 * sample_rate))
    err = _placement(found, onsets, sample_rate)
    print(f"sr={sample_rate}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}, "
          f"placement median {np.median(err):.1f} p95 {np.percentile(err, 95):.1f} samples")
    assert f1 >= 0.9
    assert np.median(err) <= 0.0005 * sample_rate and np.percentile(err, 95) <= 0.002 * sample_rate


def test_quiet_hits_alone_are_found() -> None:
    x, onsets = hit_sequence(20, 44100, seed=5, levels_db=(-40.0, -34.0))
    _, r, f1 = onset_f1(_detect(x, 44100, 256), onsets, 441)
    assert f1 >= 0.9 and r >= 0.9


def test_a_decaying_resonant_hit_triggers_once_at_its_start() -> None:
    sr = 44100
    hit = _decaying_hit(sr)
    x = np.zeros(int(2.5 * sr))
    x[sr // 2 : sr // 2 + hit.size] = 0.5 * hit
    x += np.random.default_rng(1).standard_normal(x.size) * 1e-4
    found = _detect(x.astype(np.float32), sr, 128)
    assert found.size == 1 and abs(int(found[0]) - sr // 2) <= 0.0005 * sr, found


def test_a_sustained_chord_is_one_onset() -> None:
    """A held major chord with 5 Hz vibrato and slow beating: one attack, no retrigger."""
    sr = 48000
    t = np.arange(3 * sr) / sr
    env = np.minimum(t / 0.01, 1.0) * (0.6 + 0.4 * np.exp(-t / 0.3))
    chord = sum(np.sin(2 * np.pi * f * (t + 0.002 * np.sin(2 * np.pi * 5 * t))) for f in (261.6, 329.6, 392.0,
                                                                                          523.9))
    env[-int(0.02 * sr) :] *= np.linspace(1.0, 0.0, int(0.02 * sr))  # released, not cut
    x = np.concatenate([np.zeros(sr // 4), 0.2 * env * chord])
    found = _detect(x.astype(np.float32), sr, 256)
    assert found.size == 1 and abs(int(found[0]) - sr // 4) <= 0.003 * sr, found


def test_onset_at_sample_zero_and_in_the_last_samples() -> None:
    sr = 44100
    hit = 0.8 * _decaying_hit(sr, 0.5)
    assert _detect(hit.astype(np.float32), sr, 256).tolist() == [0]
    x = np.concatenate([np.zeros(sr), hit[:20]]).astype(np.float32)  # the stream ends 20 samples in
    det = OnsetDetector(sr)
    head = det.process(x)
    tail = det.flush()
    assert head + tail == [sr] and det.process(np.zeros(10, np.float32)) == []  # flush resets


def test_block_size_does_not_change_onsets() -> None:
    x, _ = hit_sequence(10, 44100, seed=1)
    a = _detect(x, 44100, 64)
    for block in (1000, 37, x.size):
        np.testing.assert_array_equal(a, _detect(x, 44100, block))


def test_silence_and_steady_noise_give_no_onsets() -> None:
    rng = np.random.default_rng(0)
    assert _detect(np.zeros(44100, np.float32), 44100, 256).size == 0
    noise = (0.01 * rng.standard_normal(3 * 44100)).astype(np.float32)
    assert _detect(noise, 44100, 256).tolist() in ([], [0])  # -40 dBFS hiss: louder than start_floor_db


@pytest.mark.parametrize("noise_db", [-60.0, -70.0])
def test_a_stream_opening_on_its_noise_floor_has_no_hit_at_its_start(noise_db: float) -> None:
    """White noise from sample 0 (10 draws), one quiet hit (-40 dBFS peak) 0.3 s in: that hit only."""
    sr = 44100
    hit = _decaying_hit(sr, 0.5)
    for seed in range(10):
        x = np.random.default_rng(seed).standard_normal(sr) * 10 ** (noise_db / 20)
        x[int(0.3 * sr) : int(0.3 * sr) + hit.size] += 0.01 * hit
        found = _detect(x.astype(np.float32), sr, 256)
        assert found.size == 1 and abs(int(found[0]) - int(0.3 * sr)) <= 0.002 * sr, (seed, found)


def test_delay_bound_and_bad_arguments() -> None:
    det = OnsetDetector(48000)
    assert 0 < det.max_delay_samples <= 0.01 * 48000
    with pytest.raises(ValueError, match="sample_rate"):
        OnsetDetector(0)
    with pytest.raises(ValueError, match="high_hz"):
        OnsetDetector(8000, high_hz=5000.0)


# ------------------------------------------------------------------------------------------ real drums
@pytest.fixture(scope="module")
def gm_rock() -> list[tuple[str, np.ndarray]]:
    """GMRockKit's labelled one-shots at 44.1 kHz (a kit the detector's defaults were not chosen on)."""
    if not (HYDROGEN / "manifest.json").is_file():
        pytest.skip(f"no Hydrogen kits in {HYDROGEN} (fetch them with `scrapl-live data hydrogen`)")
    return [s for s in load_shots(HYDROGEN, 44100, kits={"GMRockKit"}) if s[0] != "other"]


def test_real_one_shots_in_full_trigger_once_each(gm_rock: list[tuple[str, np.ndarray]]) -> None:
    """Every kick, snare, tom, clap, hat and cymbal played out in full: precision and recall ≥ 0.95."""
    sr, events, t = 44100, [], 0
    rng = np.random.default_rng(0)
    for _, shot in gm_rock:
        events.append((t, shot, float(rng.uniform(-20.0, 0.0))))
        t += shot.size + int(0.3 * sr)
    x, onsets = mix_shots(events, t + sr, sr, noise_db=-70.0)
    found = _detect(x, sr, 256)
    p, r, _ = onset_f1(found, onsets, int(0.010 * sr))
    print(f"{len(events)} one-shots: {found.size} onsets, precision {p:.3f} recall {r:.3f}")
    assert p >= 0.95 and r >= 0.95


def test_real_one_shots_with_their_attack_at_sample_zero(gm_rock: list[tuple[str, np.ndarray]]) -> None:
    """Each one-shot as its own file from its attack on, at its recorded level (soft layers included):
    one onset, at the start."""
    pre = round(PRE_ROLL_S * 44100)
    for i, (label, shot) in enumerate(gm_rock):
        found = _detect(np.ascontiguousarray(shot[pre:]), 44100, 256)
        assert found.size >= 1 and found[0] <= 0.001 * 44100, (i, label, found)


def test_hats_over_a_ringing_kick_are_found(gm_rock: list[tuple[str, np.ndarray]]) -> None:
    sr, events, t = 44100, [], 0
    kicks = [x for label, x in gm_rock if label == "kick"]
    hats = [x for label, x in gm_rock if label.endswith("hat")]
    rng = np.random.default_rng(1)
    for i, hat in enumerate(hats):
        events += [(t, kicks[i % len(kicks)], -3.0), (t + int(rng.uniform(0.05, 0.3) * sr), hat, -9.0)]
        t += int(1.2 * sr)
    x, onsets = mix_shots(events, t + sr, sr, noise_db=-70.0)
    p, r, _ = onset_f1(_detect(x, sr, 256), onsets, int(0.010 * sr))
    assert p >= 0.95 and r >= 0.95, (p, r)


def test_placement_on_a_real_drum_sequence(gm_rock: list[tuple[str, np.ndarray]]) -> None:
    """One-shots 60 ms-1 s apart at -40…0 dBFS over -60 dBFS noise, each ringing on under the next:
    precision ≥ 0.93, recall ≥ 0.8 of the hits not drowned by what rings on (``audible``), placement
    within 0.5 ms (median) and 2 ms (p95) of the attack (first sample at -40 dB of the one-shot's peak).
    The false positives are GMRockKit closed hats whose first sample at -40 dB is a soft pre-sound
    ~30 ms before their peak: under a ring only the main transient, ~25 ms after that onset, is found."""
    sr = 44100
    events = shot_events([s for _, s in gm_rock], sr, 150, seed=2)
    x, onsets = mix_shots(events, events[-1][0] + sr, sr, noise_db=-60.0)
    heard = audible(events, x, sr)
    found = _detect(x, sr, 256)
    p, _, _ = onset_f1(found, onsets, int(0.010 * sr))
    _, r_heard, _ = onset_f1(found, onsets[heard], int(0.010 * sr))
    err = _placement(found, onsets, sr)
    ms = np.percentile(err, [50, 95]) / sr * 1e3
    print(f"precision {p:.3f}, recall {r_heard:.3f} of {heard.sum()} audible hits (of {heard.size}); "
          f"placement median {ms[0]:.2f} ms, p95 {ms[1]:.2f} ms")
    assert p >= 0.93 and r_heard >= 0.8  # measured 0.94 and 0.83
    assert np.median(err) <= 0.0005 * sr and np.percentile(err, 95) <= 0.002 * sr
