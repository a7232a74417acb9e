"""The shared waveform + spectrogram figure."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
from matplotlib.figure import Figure

from scrapl_live.plots import waveform_and_spectrogram


def test_png_with_log_frequency_axis(tmp_path: Path) -> None:
    sr = 8000
    tone = np.sin(2 * np.pi * 440 * np.arange(sr) / sr)
    fig = waveform_and_spectrogram(None, tone, sr, "A4")
    wave_ax, spec_ax = fig.axes[:2]
    assert spec_ax.get_yscale() == "log" and spec_ax.get_ylim()[1] == pytest.approx(sr / 2)
    assert wave_ax.get_title() == "A4"
    # The brightest spectrogram row sits at 440 Hz (within one bin).
    mesh = spec_ax.collections[0]
    rows = mesh.get_array().reshape(-1, len(spec_ax.collections[0].get_coordinates()[0]))
    freqs = mesh.get_coordinates()[:, 0, 1]
    assert abs(freqs[np.argmax(rows.mean(axis=1))] - 440) < sr / 256
    fig.savefig(tmp_path / "a.png")
    assert matplotlib.image.imread(tmp_path / "a.png").ndim == 3


def test_draws_on_given_axes_and_rejects_bad_audio() -> None:
    fig = Figure()
    axes = fig.subplots(2, 1)
    assert waveform_and_spectrogram(axes, np.zeros((1, 512)), 1000) is fig
    with pytest.raises(ValueError, match="audio"):
        waveform_and_spectrogram(None, np.zeros((2, 512)), 1000)
    with pytest.raises(ValueError, match="audio"):
        waveform_and_spectrogram(None, np.full(512, np.nan), 1000)
    with pytest.raises(ValueError, match="sr"):
        waveform_and_spectrogram(None, np.zeros(512), 0)
