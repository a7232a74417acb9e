"""Streaming onset detector: F1 on generated 808 sequences (−40…0 dBFS over noise), block-size invariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scrapl_live.live.onset import OnsetDetector
from tests.live.signals import hit_sequence, onset_f1


def _detect(x: np.ndarray, sr: int, block: int) -> np.ndarray:
    det = OnsetDetector(sr)
    found: list[int] = []
    for i in range(0, x.size, block):
        found += det.process(x[i : i + block])
    return np.array(found)


@pytest.mark.parametrize("sample_rate", [44100, 48000])
def test_f1_on_808_sequence_with_quiet_hits(sample_rate: int) -> None:
    torch.set_num_threads(1)
    x, onsets = hit_sequence(60, sample_rate, seed=3, noise_db=-60.0, levels_db=(-40.0, 0.0))
    p, r, f1 = onset_f1(_detect(x, sample_rate, 256), onsets, int(0.010 * sample_rate))
    print(f"sr={sample_rate}: precision {p:.3f} recall {r:.3f} F1 {f1:.3f}")
    assert f1 >= 0.9


def test_quiet_hits_alone_are_found() -> None:
    x, onsets = hit_sequence(20, 44100, seed=5, levels_db=(-40.0, -34.0))
    _, r, f1 = onset_f1(_detect(x, 44100, 256), onsets, 441)
    assert f1 >= 0.9 and r >= 0.9


def test_block_size_does_not_change_onsets() -> None:
    x, _ = hit_sequence(10, 44100, seed=1)
    a, b = _detect(x, 44100, 64), _detect(x, 44100, 1000)
    np.testing.assert_array_equal(a, b)


def test_silence_and_steady_noise_give_no_onsets() -> None:
    rng = np.random.default_rng(0)
    assert _detect(np.zeros(44100, np.float32), 44100, 256).size == 0
    noise = (0.01 * rng.standard_normal(3 * 44100)).astype(np.float32)
    assert _detect(noise, 44100, 256).size <= 1  # at most the noise's own start


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        OnsetDetector(0)
    with pytest.raises(ValueError, match="n_fft"):
        OnsetDetector(44100, n_fft=500)
