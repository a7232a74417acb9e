"""PNG comparing an input with its resynthesis: waveforms, spectrograms, predicted parameters per hit."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_comparison(
    path: str | Path,
    inp: np.ndarray,
    out: np.ndarray,
    sample_rate: int,
    hit_times: list[int],
    thetas: np.ndarray,
    param_names: list[str],
    title: str = "",
    labels: Sequence[str | None] | None = None,
) -> Path:
    """Write a 4-panel PNG. inp (N,), out (M,) at ``sample_rate``; thetas (H, U) in [0, 1] per hit.

    Rows: both waveforms (onsets marked, with each hit's drum class when ``labels`` (H,) gives one, see
    :func:`hit_label`), input spectrogram, resynthesis spectrogram, θ̂ heat map (hits × parameters,
    columns named by onset time and class).
    """
    labels = list(labels) if labels is not None else [None] * len(hit_times)
    from matplotlib.figure import Figure

    from scrapl_live.plots import log_spectrogram

    fig = Figure(figsize=(11, 11))
    axes = fig.subplots(4, 1, gridspec_kw={"height_ratios": [1, 1.2, 1.2, 1.4]})
    t_in = np.arange(inp.size) / sample_rate
    t_out = np.arange(out.size) / sample_rate
    ax = axes[0]
    ax.plot(t_in, inp, lw=0.5, label="input")
    ax.plot(t_out, out, lw=0.5, alpha=0.7, label="resynthesis")
    top = float(max(np.abs(inp).max(initial=0.0), np.abs(out).max(initial=0.0), 1e-6))
    for t, label in zip(hit_times, labels, strict=True):
        ax.axvline(t / sample_rate, color="k", lw=0.5, ls=":")
        if label:
            ax.text(t / sample_rate, 0.95 * top, label, rotation=90, va="top", ha="right", fontsize=6)
    ax.set_xlim(0, max(t_in[-1], t_out[-1]))
    ax.set_ylabel("amplitude")
    ax.legend(loc="upper right")
    ax.set_title(title or "input vs resynthesis")
    for ax, sig, name in ((axes[1], inp, "input"), (axes[2], out, "resynthesis")):
        log_spectrogram(ax, np.asarray(sig, dtype=np.float64), sample_rate, label=f"{name}\nHz")
        ax.set_xlim(0, max(t_in[-1], t_out[-1]))
    ax = axes[3]
    if len(thetas):
        im = ax.imshow(np.asarray(thetas).T, aspect="auto", cmap="viridis", vmin=0, vmax=1, origin="lower")
        ax.set_yticks(range(len(param_names)), param_names, fontsize=7)
        ticks = [f"{t / sample_rate:.2f}s" + (f" {label}" if label else "")
                 for t, label in zip(hit_times, labels, strict=True)]
        ax.set_xticks(range(len(thetas)), ticks, rotation=60, fontsize=7)
        fig.colorbar(im, ax=ax, label="θ̂ (normalised)", pad=0.01)
    else:
        ax.text(0.5, 0.5, "no hits detected", ha="center", va="center")
    ax.set_xlabel("hit (onset time)")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=110)
    return p


def hit_label(label: str | None, confidence: float | None) -> str | None:
    """A hit's class as the plot shows it ("snare 0.93"), or None for an unclassified hit."""
    if label is None:
        return None
    return label if confidence is None else f"{label} {confidence:.2f}"
