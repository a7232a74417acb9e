"""The numpy head of a TR-808 voice equals the start of the torch synth's render (the peer)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import synths
from scrapl_live.live.engine import LIVE_SYNTH_OPTIONS
from scrapl_live.live.head808 import TR808Head


def _synth(sample_rate: int, **options: object) -> synths.Synth:
    return synths.get("tr808", **LIVE_SYNTH_OPTIONS["tr808"], sample_rate=sample_rate, n_samples=sample_rate,
                      **options).eval()


@pytest.mark.parametrize(("sample_rate", "fixed_noise"), [(48000, False), (44100, False), (22050, True)])
def test_head_matches_the_torch_render(sample_rate: int, fixed_noise: bool) -> None:
    torch.set_num_threads(1)
    synth = _synth(sample_rate, fixed_noise=fixed_noise)
    head = TR808Head(synth, 2048)
    theta = torch.rand(24, 14, generator=torch.Generator().manual_seed(sample_rate))
    theta[0], theta[1] = 0.0, 1.0  # the corners: loudest drive, sharpest resonance, cutoff at the limit
    for i, th in enumerate(theta):
        seed = 100 + i
        with torch.no_grad():
            full32 = synth(th[None], torch.tensor([seed]))[0, 0, :2048].numpy()
            full64 = synth(th[None].double(), torch.tensor([seed]))[0, 0, :2048].numpy()
        ours = head.render(th.numpy(), seed)
        assert ours.shape == (2048,) and ours.dtype == np.float32
        # float64 arithmetic here, float32 there: the gap is the torch synth's own float32 rounding
        # (its distance to its float64 render) plus the float32 physical values used here
        np.testing.assert_allclose(ours, full64, atol=5e-5)
        np.testing.assert_allclose(ours, full32, atol=np.abs(full32 - full64).max() + 5e-5)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="synth"):
        TR808Head(synths.get("granular"), 256)
    with pytest.raises(ValueError, match="pre_delay"):
        TR808Head(synths.get("tr808"), 256)  # the training-time delay: not a live voice
    synth = _synth(48000)
    with pytest.raises(ValueError, match="n_samples"):
        TR808Head(synth, 48001)
    head = TR808Head(synth, 64)
    with pytest.raises(ValueError, match="theta"):
        head.render(np.zeros(13, np.float32), 0)
    with pytest.raises(ValueError, match="theta"):
        head.render(np.full(14, np.nan, np.float32), 0)
