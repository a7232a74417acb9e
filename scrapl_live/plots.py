"""Reusable PNG figures (matplotlib, Agg): waveform + log-frequency spectrogram of a sound.

Figures are built with ``matplotlib.figure.Figure`` directly (no pyplot, no global backend state), so
plotting is safe from worker threads; ``fig.savefig("x.png")`` renders through Agg.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

DYNAMIC_RANGE_DB = 90.0
"""Spectrogram colour range below its maximum."""


def waveform_and_spectrogram(
    ax_or_fig: Figure | Sequence[Axes] | None, audio: np.ndarray, sr: int, title: str = ""
) -> Figure:
    """Draw the waveform (top) and a log-frequency dB spectrogram (bottom) of mono ``audio``.

    ax_or_fig: a Figure (two axes are added), a pair of Axes to draw on, or None (a new 8×5 in figure).
    audio: (N,) or (1, N) samples (NumPy array or torch tensor); sr: sample rate in Hz.
    Returns the Figure holding the axes.
    """
    x = np.asarray(audio.detach().cpu() if hasattr(audio, "detach") else audio, dtype=np.float64)
    if x.ndim == 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"audio must be mono with shape (N,) or (1, N), N >= 2, got {x.shape}")
    if not np.isfinite(x).all():
        raise ValueError("audio contains NaN or infinite values")
    if sr <= 0:
        raise ValueError(f"sr must be > 0, got {sr}")
    if ax_or_fig is None:
        ax_or_fig = Figure(figsize=(8, 5), layout="constrained")
    if isinstance(ax_or_fig, Figure):
        fig = ax_or_fig
        ax_wave, ax_spec = fig.subplots(2, 1, sharex=True)
    else:
        if len(ax_or_fig) != 2:
            raise ValueError(f"ax_or_fig must hold 2 Axes, got {len(ax_or_fig)}")
        ax_wave, ax_spec = ax_or_fig
        fig = ax_wave.figure

    t = np.arange(x.size) / sr
    ax_wave.plot(t, x, linewidth=0.6)
    ax_wave.set_ylabel("amplitude")
    ax_wave.set_title(title)
    ax_wave.grid(alpha=0.3)

    log_spectrogram(ax_spec, x, sr)
    ax_spec.set_xlabel("time (s)")
    return fig


def log_spectrogram(ax: Axes, x: np.ndarray, sr: int, label: str = "frequency (Hz)") -> None:
    """Draw a dB spectrogram of mono float ``x`` (N,) on ``ax`` with a log-frequency axis and a colour bar.

    ~50 ms Hann frames (20 Hz bins), hop a quarter frame; colours span ``DYNAMIC_RANGE_DB`` below the peak.
    """
    n_fft = min(x.size, 2 ** round(math.log2(max(sr / 20.0, 64.0))))  # ~50 ms frames, 20 Hz bins
    hop = max(1, n_fft // 4)
    frames = np.lib.stride_tricks.sliding_window_view(np.pad(x, (n_fft // 2, n_fft // 2)), n_fft)[::hop]
    spec = np.abs(np.fft.rfft(frames * np.hanning(n_fft), axis=-1)).T
    db = 20 * np.log10(spec + 1e-12)
    freqs = np.fft.rfftfreq(n_fft, 1 / sr)
    times = np.arange(frames.shape[0]) * hop / sr
    f_lo = freqs[1]
    mesh = ax.pcolormesh(
        times,
        freqs[1:],
        db[1:],
        shading="nearest",
        cmap="magma",
        vmin=db.max() - DYNAMIC_RANGE_DB,
        vmax=db.max(),
    )
    ax.set_yscale("log")
    ax.set_ylim(f_lo, sr / 2)
    ax.set_ylabel(label)
    ax.figure.colorbar(mesh, ax=ax, label="dB")
