"""The numpy TR-808 renderer equals the torch synth's render (the peer) on any stretch of the voice."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import synths
from synths.tr808_numpy import TR808Numpy


def _synth(sample_rate: int, **options: object) -> synths.Synth:
    return synths.get("tr808", pre_delay=0, max_shift=0, sample_rate=sample_rate, n_samples=sample_rate,
                      **options).eval()


@pytest.mark.parametrize(("sample_rate", "fixed_noise"), [(48000, False), (44100, False), (22050, True)])
@pytest.mark.parametrize("start", [0, 3000])
def test_render_matches_the_torch_render(sample_rate: int, fixed_noise: bool, start: int) -> None:
    torch.set_num_threads(1)
    synth = _synth(sample_rate, fixed_noise=fixed_noise)
    voice = TR808Numpy(synth)
    theta = torch.rand(16, 14, generator=torch.Generator().manual_seed(sample_rate + start))
    theta[0], theta[1] = 0.0, 1.0  # the corners: loudest drive, sharpest resonance, cutoff at the limit
    for i, th in enumerate(theta):
        seed = 100 + i
        with torch.no_grad():
            full32 = synth(th[None], torch.tensor([seed]))[0, 0, start : start + 2048].numpy()
            full64 = synth(th[None].double(), torch.tensor([seed]))[0, 0, start : start + 2048].numpy()
        ours = voice.render(th.numpy(), seed, start, 2048)
        assert ours.shape == (2048,) and ours.dtype == np.float32
        # float64 arithmetic here, float32 there: the gap is the torch synth's own float32 rounding
        # (its distance to its float64 render) plus the float32 physical values used here
        np.testing.assert_allclose(ours, full64, atol=5e-5)
        np.testing.assert_allclose(ours, full32, atol=np.abs(full32 - full64).max() + 5e-5)


def test_ranges_join_and_stop_at_the_voice_end() -> None:
    voice = TR808Numpy(_synth(22050))
    theta = np.full(14, 0.4, np.float32)
    whole = voice.render(theta, 7, 0, 22050)
    parts = np.concatenate([voice.render(theta, 7, s, 1000) for s in range(0, 22050, 1000)])
    np.testing.assert_array_equal(parts, whole)
    assert voice.render(theta, 7, 22000, 1000).shape == (50,)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="synth"):
        TR808Numpy(synths.get("granular"))
    with pytest.raises(ValueError, match="pre_delay"):
        TR808Numpy(synths.get("tr808"))  # the training-time delay: not a live voice
    voice = TR808Numpy(_synth(48000))
    with pytest.raises(ValueError, match="theta"):
        voice.render(np.zeros(13, np.float32), 0)
    with pytest.raises(ValueError, match="theta"):
        voice.render(np.full(14, np.nan, np.float32), 0)
    with pytest.raises(ValueError, match="start"):
        voice.render(np.zeros(14, np.float32), 0, -1)
