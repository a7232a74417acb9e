"""One-shot voices on the output clock: pieces join, voices start where asked, splices do not click."""

from __future__ import annotations

import numpy as np

import synths
from scrapl_live.live.voices import OneShotMixer
from synths.tr808_numpy import TR808Numpy


def test_mixer_head_then_tail_plays_the_whole_voice_and_counts_a_late_tail() -> None:
    voice = np.linspace(1.0, 0.5, 1000, dtype=np.float32)
    mixer = OneShotMixer(max_voices=2, max_len=1000, fade=8)
    slot = mixer.trigger(voice[:300], gain=0.5, final=False)
    out = np.zeros(1000, np.float32)
    mixer.mix_into(out[:256])
    assert mixer.extend(*slot, voice, 0, gain=0.5) and mixer.late_tails == 0  # in time: seamless
    for i in range(256, 1000, 256):
        mixer.mix_into(out[i : i + 256])
    expected = 0.5 * voice
    expected[-8:] *= np.linspace(1.0, 0.0, 8, dtype=np.float32)  # the fade-out at the voice's end
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    late = mixer.trigger(voice[:100], final=False)
    mixer.mix_into(np.zeros(256, np.float32))  # the head ran out before its tail came
    assert mixer.extend(*late, voice) and mixer.late_tails == 1


def test_voices_start_at_the_requested_output_sample() -> None:
    mixer = OneShotMixer(max_voices=2, max_len=100, fade=2)
    mixer.mix_into(np.zeros(64, np.float32))  # t = 64
    mixer.trigger(np.ones(10, np.float32), at=100)
    mixer.trigger(np.full(10, 2.0, np.float32), at=10)  # already played: starts at once, counted
    out = np.zeros(128, np.float32)
    mixer.mix_into(out)
    assert mixer.late_starts == 1
    expected = np.zeros(128, np.float32)
    expected[:10] = 2.0
    expected[100 - 64 : 110 - 64] = 1.0
    expected[9] = expected[45] = 0.0  # the two-sample fade-out (1, 0) at each voice's end
    np.testing.assert_array_equal(out, expected)


def test_a_splice_re_renders_the_unplayed_part_without_a_click() -> None:
    """A kick re-rendered with other parameters mid-voice: no step at the splice larger than the voice's own
    largest step nearby; without the crossfade (a hard switch) there is one."""
    voice = TR808Numpy(synths.get("tr808", pre_delay=0, max_shift=0).eval())
    old_theta = np.full(14, 0.5, np.float32)
    old_theta[[0, 2, 12]] = (0.05, 0.1, 0.0)  # a low tonal kick (noise at -60 dB)
    new_theta = old_theta.copy()
    new_theta[[0, 2, 5]] = (0.03, 0.15, 0.2)  # other oscillator pitches and decay
    old, new = voice.render(old_theta, 3, 0, 8192), voice.render(new_theta, 3, 0, 8192)
    for xfade, clicks in ((256, False), (1, True)):
        mixer = OneShotMixer(max_voices=1, max_len=8192, xfade=xfade)
        slot = mixer.trigger(old, final=False)
        out = np.zeros(8192, np.float32)
        mixer.mix_into(out[:1024])
        k = mixer.splice(*slot, new[1024:3072], 1024)
        assert k == 1024
        mixer.mix_into(out[1024:])
        np.testing.assert_array_equal(out[:1024], old[:1024])
        np.testing.assert_allclose(out[1024 + xfade : 3072], new[1024 + xfade : 3072], rtol=1e-6)
        steps = np.abs(np.diff(out[:3072]))
        own = max(np.abs(np.diff(old[512:1536])).max(), np.abs(np.diff(new[512:1536])).max())
        splice = steps[1023 : 1024 + xfade].max()
        assert (splice > own) == clicks, (xfade, splice, own)
