"""The drum-class head: small networks from a hit's first samples to its class (kick, snare, hat, ...).

:class:`DrumClassNet` takes the first ``window`` samples of a hit at 44.1 kHz, peak-normalises them, and
computes four fixed spectral views inside the graph (so the exported ONNX file needs no feature code):
log band energies of 64-sample frames over the attack, of 256-sample frames over the window (its time
course) and of the whole window below 1.5 kHz (the pitch of a kick or a tom), and for windows of
2048 samples or more the whole window's spectrum in 32 bands as each band's mean power and its
peakiness (strongest bin over the band's mean: the metallic partials of a hat or a cymbal against the
noise of a shaker or snare wires).  An ensemble
of two-layer MLPs (``members``, probabilities averaged) maps the standardised features to class
probabilities.
:class:`DrumClassBank` holds one such head per window (128 … 2048 samples) over one input, so a hit is
classified from however much of it has been heard (the longest head whose window is covered).
Training (:func:`train_head`) fits only the MLPs, on features of augmented one-shots
(:func:`scrapl_live.train.classifier_data.augment`), and is deterministic given the seed.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from scrapl_live.live.classify import CLASSES

SAMPLE_RATE = 44100
MICRO, MICRO_HOP, MICRO_SPAN = 64, 32, 512
"""Attack view: 64-sample frames (hop 32) over the first 512 samples, 16 bands 300 Hz..20 kHz."""
FRAME, HOP = 256, 128
"""Body view: 256-sample frames (hop 128) over the whole window, 40 bands 40 Hz..20 kHz (a window
shorter than a frame is one frame)."""
MIN_WINDOW = 128
"""Shortest head window (samples at 44.1 kHz): live mode's shortest first window."""
LOW_HZ, LOW_FFT = 1500.0, 2048
"""Pitch view: the whole window zero-padded to ≥ 2048 points, bins below 1.5 kHz, 40 bands."""
PEAK_BANDS, PEAK_MIN_WINDOW = 32, 2048
"""Peak view: the whole window zero-padded to ≥ 2048 points, 32 bands 40 Hz..20 kHz, in heads of at
least 2048 samples (where it measured a gain on the validation kits; shorter heads gained nothing for its
cost per call, see docs/results.md "Drum classes")."""


def _band_matrix(n_fft: int, n_bins: int, lo: float, n_bands: int) -> torch.Tensor:
    """(n_bins, n_bands) 0/1 matrix: rfft bin k → the log-spaced band (lo..20 kHz) holding k·sr/n_fft."""
    edges = np.geomspace(lo, 20000.0, n_bands + 1)
    freqs = np.arange(n_bins) * SAMPLE_RATE / n_fft
    band = np.clip(np.searchsorted(edges, freqs, side="right") - 1, 0, n_bands - 1)
    m = np.zeros((n_bins, n_bands), np.float32)
    m[np.arange(n_bins), band] = 1.0
    return torch.from_numpy(m)


def _dft_basis(length: int, n_fft: int, n_bins: int) -> torch.Tensor:
    """(2·n_bins, 1, length) Hann-windowed cos/sin kernels of an n_fft-point rfft of ``length`` samples
    (zero-padded when n_fft > length), for a strided conv1d."""
    t = np.arange(length)
    hann = np.sin(np.pi * (t + 0.5) / length) ** 2
    arg = 2 * np.pi * np.arange(n_bins)[:, None] * t / n_fft
    basis = np.concatenate([np.cos(arg) * hann, -np.sin(arg) * hann]) / math.sqrt(length)
    return torch.from_numpy(basis.astype(np.float32)).unsqueeze(1)


class _View(nn.Module):
    """Log band energies (B, frames·bands) of ``length``-sample frames every ``hop`` over the first
    ``span`` samples."""

    def __init__(self, length: int, hop: int, span: int, n_fft: int, max_hz: float, lo: float,
                 n_bands: int) -> None:
        super().__init__()
        n_bins = min(n_fft // 2 + 1, int(max_hz * n_fft / SAMPLE_RATE) + 1)
        self.hop, self.span = hop, span
        self.n_features = (1 + (span - length) // hop) * n_bands
        self.register_buffer("basis", _dft_basis(length, n_fft, n_bins))
        self.register_buffer("bands", _band_matrix(n_fft, n_bins, lo, n_bands))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.nn.functional.conv1d(x[..., : self.span], self.basis, stride=self.hop)
        re, im = spec.chunk(2, dim=1)
        power = (re * re + im * im).transpose(1, 2)  # (B, frames, bins)
        return torch.log(power @ self.bands + 1e-6).flatten(1)


class _PeakView(nn.Module):
    """Whole-window spectrum (B, 2·n_bands): log mean power per band and log(strongest bin / mean).

    An FFT (ONNX DFT) rather than a stored DFT basis: all 1025+ bins of a 2048-point window would be a
    basis of millions of values in the exported file.
    """

    def __init__(self, window: int, n_bands: int = PEAK_BANDS) -> None:
        super().__init__()
        self.window, self.n_fft, self.n_features = window, max(window, LOW_FFT), 2 * n_bands
        t = np.arange(window)
        taper = np.sin(np.pi * (t + 0.5) / window) ** 2 / math.sqrt(window)  # as _dft_basis
        self.register_buffer("taper", torch.from_numpy(taper.astype(np.float32)))
        bands = _band_matrix(self.n_fft, self.n_fft // 2 + 1, 40.0, n_bands)
        self.register_buffer("bands", bands)
        self.register_buffer("inv_count", 1.0 / bands.sum(0).clamp_min(1.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.fft.rfft(x[:, 0, : self.window] * self.taper, n=self.n_fft)
        power = spec.real * spec.real + spec.imag * spec.imag  # (B, bins)
        mean = (power @ self.bands) * self.inv_count
        peak = (power.unsqueeze(-1) * self.bands).amax(dim=1)  # (B, bands)
        return torch.cat([torch.log(mean + 1e-6), torch.log((peak + 1e-9) / (mean + 1e-9))], dim=1)


class DrumClassNet(nn.Module):
    """audio (B, ≥ window) at 44.1 kHz → class probabilities (B, len(CLASSES)) of its first ``window``.

    window ≥ MIN_WINDOW samples. ``features`` is the fixed front end (B, F), standardised by buffers that
    :func:`train_head` fits; ``members`` MLPs of the same shape are averaged (an ensemble).
    """

    def __init__(self, window: int, hidden: int = 128, dropout: float = 0.2, members: int = 1) -> None:
        super().__init__()
        if window < MIN_WINDOW:
            raise ValueError(f"window must be >= {MIN_WINDOW} samples, got {window}")
        if members < 1:
            raise ValueError(f"members must be >= 1, got {members}")
        self.window = int(window)
        frame = min(FRAME, window)
        self.views = nn.ModuleList([
            _View(MICRO, MICRO_HOP, min(MICRO_SPAN, window), MICRO, SAMPLE_RATE / 2, 300.0, 16),
            _View(frame, HOP, window, frame, SAMPLE_RATE / 2, 40.0, 40),
            _View(window, window, window, max(window, LOW_FFT), LOW_HZ, 40.0, 40),
            *([_PeakView(window)] if window >= PEAK_MIN_WINDOW else []),
        ])
        n_features = sum(v.n_features for v in self.views)
        self.register_buffer("mean", torch.zeros(n_features))
        self.register_buffer("std", torch.ones(n_features))
        self.heads = nn.ModuleList([nn.Sequential(
            nn.Linear(n_features, hidden), nn.ReLU(), nn.Dropout(dropout),
            nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, len(CLASSES)),
        ) for _ in range(members)])

    def features(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, ≥ window) → standardised features (B, F) of its peak-normalised first window."""
        x = audio[:, : self.window]
        x = (x / (x.abs().amax(dim=-1, keepdim=True) + 1e-4)).unsqueeze(1)
        f = torch.cat([view(x) for view in self.views], dim=1)
        return (f - self.mean) / self.std

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        f = self.features(audio)
        return torch.stack([torch.softmax(head(f), dim=-1) for head in self.heads]).mean(0)


class DrumClassBank(nn.Module):
    """audio (B, max window) at 44.1 kHz → probabilities (B, K, len(CLASSES)) of each of K heads.

    Head k reads the first ``windows[k]`` samples (ascending); a caller that has heard n samples reads
    the longest head with ``windows[k] <= n`` (the input zero-padded beyond n).
    """

    def __init__(self, heads: list[DrumClassNet]) -> None:
        super().__init__()
        self.nets = nn.ModuleList(sorted(heads, key=lambda h: h.window))
        self.windows = tuple(h.window for h in self.nets)
        if len(set(self.windows)) != len(self.windows):
            raise ValueError(f"one head per window, got windows {self.windows}")
        self.window = self.windows[-1]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        return torch.stack([net(audio) for net in self.nets], dim=1)


def cached_features(net: DrumClassNet, windows: np.ndarray, batch: int = 1024) -> torch.Tensor:
    """Front-end features (M, F) of windows (M, ≥ window), without the standardisation."""
    with torch.no_grad():
        mean, std = net.mean.clone(), net.std.clone()
        net.mean.zero_()
        net.std.fill_(1.0)
        feats = torch.cat([net.features(torch.from_numpy(windows[i : i + batch]))
                           for i in range(0, len(windows), batch)])
        net.mean.copy_(mean)
        net.std.copy_(std)
    return feats


def train_head(net: DrumClassNet, windows: np.ndarray, labels: np.ndarray, seed: int = 0,
               epochs: int = 40, batch: int = 256, lr: float = 2e-3) -> list[float]:
    """Fit the standardisation and each MLP of ``net`` on windows (M, ≥ window) float32, labels (M,) int.

    The loss weights classes by inverse frequency (a rare class counts as much as a common one).  Member
    m is initialised and shuffled from ``seed + m``: deterministic given ``seed``.  Returns the mean
    training loss per epoch (averaged over the members).
    """
    feats = cached_features(net, windows)
    net.mean.copy_(feats.mean(0))
    net.std.copy_(feats.std(0).clamp_min(1e-3))
    feats = (feats - net.mean) / net.std
    y = torch.from_numpy(labels.astype(np.int64))
    counts = torch.bincount(y, minlength=len(CLASSES)).float()
    weight = torch.where(counts > 0, counts.sum() / (len(CLASSES) * counts.clamp_min(1)), 0.0)
    loss_fn = nn.CrossEntropyLoss(weight=weight)
    history = np.zeros(epochs)
    net.train()
    for m, head in enumerate(net.heads):
        torch.manual_seed(seed + m)
        for layer in head:
            if isinstance(layer, nn.Linear):
                layer.reset_parameters()
        gen = torch.Generator().manual_seed(seed + m)
        opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-3)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
        for epoch in range(epochs):
            order = torch.randperm(len(y), generator=gen)
            total = 0.0
            for i in range(0, len(y), batch):
                idx = order[i : i + batch]
                loss = loss_fn(head(feats[idx]), y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach()) * len(idx)
            sched.step()
            history[epoch] += total / len(y) / len(net.heads)
    net.eval()
    return history.tolist()


HALF_MIN_SIZE = 1024
"""Tensors of at least this many values are stored in float16 (kernels and MLP weights)."""


def round_to_half(net: nn.Module) -> None:
    """Round every parameter and buffer of ≥ HALF_MIN_SIZE values to float16 precision, in place: the
    exported file stores them in float16 (half its size), so torch and onnxruntime compute the same."""
    with torch.no_grad():
        for t in net.state_dict().values():
            if t.is_floating_point() and t.numel() >= HALF_MIN_SIZE:
                t.copy_(t.half().float())


def predict(net: DrumClassNet, windows: np.ndarray) -> np.ndarray:
    """Class probabilities (M, C) of windows (M, ≥ window)."""
    with torch.no_grad():
        return net(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32))).numpy()


def per_class_accuracy(pred: np.ndarray, labels: np.ndarray) -> dict[str, float | None]:
    """Accuracy of predicted class indices per true class (None where a class has no example)."""
    return {c: (float(np.mean(pred[labels == i] == i)) if np.any(labels == i) else None)
            for i, c in enumerate(CLASSES)}


def balanced_accuracy(per_class: dict[str, float | None]) -> float:
    """Mean of the per-class accuracies over the classes present."""
    vals = [v for v in per_class.values() if v is not None]
    return float(np.mean(vals)) if vals else float("nan")
