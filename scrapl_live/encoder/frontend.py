"""Constant-Q front-end as one fixed real conv1d: exportable to ONNX, no complex dtypes in the graph.

Design follows nnAudio's ``CQT1992v2`` (the paper's front-end): for bin ``k`` with centre
``f_k = fmin · 2^(k/bpo)`` the kernel is a periodic Hann window of length ``l_k = ceil(Q·sr/f_k)``
(``Q = 1/(2^(1/bpo) - 1)``) times ``exp(2πi f_k n/sr)``, L1-normalised; all kernels sit centred in a
common width, the signal is padded by half that width (``center=True``) and convolved with stride
``hop``; magnitudes are multiplied by ``sqrt(l_k)`` ("librosa" normalisation) and mapped through
``log1p(|CQT| / log_eps)``.  Real and imaginary parts are two halves of the conv's output channels.

Short analysis windows: a kernel longer than the window only sees zeros (or reflections) outside it,
so kernel lengths are capped at ``max_kernel`` samples.  Bins whose natural length exceeds the cap keep
their centre frequency but get a shorter Hann window, i.e. a bandwidth of about ``2·sr/max_kernel`` Hz
(main-lobe half width) instead of ``f_k/Q``: for tr808 at W = 2048 (cap 2048, 44.1 kHz) the bins below
``Q·sr/2048 ≈ 362 Hz`` (41 of 108) have ≈ 43 Hz resolution — a 46 ms window cannot resolve more.
:func:`effective_bandwidths` reports the resulting per-bin bandwidths.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

PAD_MODES = ("reflect", "constant")


@dataclass(frozen=True)
class CQTConfig:
    """Settings of the constant-Q front-end (all in samples/Hz at ``sample_rate``)."""

    sample_rate: int
    fmin: float
    n_bins: int
    bins_per_octave: int
    hop: int
    max_kernel: int | None = None
    pad_mode: str = "reflect"
    log_eps: float = 1e-3

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be > 0, got {self.sample_rate}")
        if self.n_bins <= 0 or self.bins_per_octave <= 0:
            raise ValueError(
                f"n_bins and bins_per_octave must be > 0, got {self.n_bins}, {self.bins_per_octave}"
            )
        if self.hop <= 0:
            raise ValueError(f"hop must be > 0, got {self.hop}")
        if self.log_eps <= 0:
            raise ValueError(f"log_eps must be > 0, got {self.log_eps}")
        top = self.fmin * 2.0 ** ((self.n_bins - 1) / self.bins_per_octave)
        if not self.fmin > 0 or top >= self.sample_rate / 2:
            raise ValueError(
                f"fmin={self.fmin} gives bins up to {top:.1f} Hz, beyond Nyquist {self.sample_rate / 2}"
            )
        if self.max_kernel is not None and self.max_kernel < 16:
            raise ValueError(f"max_kernel must be >= 16 samples or None, got {self.max_kernel}")
        if self.pad_mode not in PAD_MODES:
            raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {self.pad_mode!r}")

    @property
    def q_factor(self) -> float:
        """Quality factor ``1/(2^(1/bpo) - 1)`` (filter_scale 1)."""
        return 1.0 / (2.0 ** (1.0 / self.bins_per_octave) - 1.0)

    def frequencies(self) -> np.ndarray:
        """Centre frequencies in Hz, shape (n_bins,)."""
        return self.fmin * 2.0 ** (np.arange(self.n_bins) / self.bins_per_octave)

    def lengths(self) -> np.ndarray:
        """Kernel lengths in samples after the ``max_kernel`` cap, shape (n_bins,) int."""
        natural = np.ceil(self.q_factor * self.sample_rate / self.frequencies()).astype(np.int64)
        return natural if self.max_kernel is None else np.minimum(natural, self.max_kernel)

    @property
    def width(self) -> int:
        """Common kernel width: the next power of two of the longest kernel (as nnAudio)."""
        return 1 << int(math.ceil(math.log2(int(self.lengths().max()))))

    def n_frames(self, n_samples: int) -> int:
        """Number of output frames for an input of ``n_samples`` (centre padding)."""
        return n_samples // self.hop + 1


def effective_bandwidths(cfg: CQTConfig) -> np.ndarray:
    """Hann main-lobe half width ``2·sr/l_k`` in Hz per bin, shape (n_bins,): the effective resolution."""
    return 2.0 * cfg.sample_rate / cfg.lengths()


class CQTFrontEnd(nn.Module):
    """Audio (B, N) → log-magnitude CQT (B, 1, n_bins, N//hop + 1); fixed, no trainable weights.

    In an ONNX export the kernel bank is computed in the graph from four tiny per-bin vectors (centre
    frequency, length, start, centre) rather than stored: the file stays small (onnxruntime folds the
    computation into a constant when it loads the model) and no complex dtype appears.  In torch the
    same bank is computed once at construction and kept as a buffer.  All phases are below
    ``π·Q ≈ 53`` rad, so fp32 evaluation is accurate to ~1e-6.
    """

    def __init__(self, cfg: CQTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        lengths = cfg.lengths()
        width = cfg.width
        starts = np.ceil(width / 2.0 - lengths / 2.0).astype(np.int64) - lengths % 2
        as_f32 = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float64), dtype=torch.float32)  # noqa: E731
        # Derived from cfg, so not part of the state dict (checkpoints stay small).
        self.register_buffer("freqs", as_f32(cfg.frequencies() / cfg.sample_rate), persistent=False)
        self.register_buffer("lengths", as_f32(lengths), persistent=False)
        self.register_buffer("starts", as_f32(starts), persistent=False)
        self.register_buffer("centres", as_f32(starts + lengths // 2), persistent=False)
        # Cached bank for torch (training); an ONNX export recomputes it in the graph instead.
        self.register_buffer("bank", self.kernels(), persistent=False)

    def kernels(self) -> torch.Tensor:
        """Kernel bank (2·n_bins, 1, width): real parts then imaginary parts.

        Bin k: periodic Hann of length l_k starting at ``starts[k]`` times ``exp(2πi f_k (n - c_k)/sr)``,
        scaled by ``sqrt(l_k)/Σwindow = 2/sqrt(l_k)`` (L1 normalisation × nnAudio's "librosa" scale).
        """
        n = torch.arange(self.cfg.width, dtype=torch.float32, device=self.freqs.device)
        length = self.lengths[:, None]
        m = n[None, :] - self.starts[:, None]  # (K, width) position inside each kernel
        inside = (m >= 0) & (m < length)
        scale = inside.to(m.dtype) * (2.0 / torch.sqrt(length))
        window = (0.5 - 0.5 * torch.cos((2.0 * math.pi) * m / length)) * scale
        phase = (2.0 * math.pi) * self.freqs[:, None] * (n[None, :] - self.centres[:, None])
        return torch.cat([window * torch.cos(phase), window * torch.sin(phase)])[:, None, :]

    def forward(self, audio: torch.Tensor) -> torch.Tensor:
        """audio (B, N) float → (B, 1, n_bins, n_frames) ``log1p(|CQT| / log_eps)``."""
        half = self.cfg.width // 2
        if self.cfg.pad_mode == "reflect" and audio.shape[-1] <= half:
            raise ValueError(
                f"audio length {audio.shape[-1]} too short for reflect padding of {half} samples; "
                "use pad_mode='constant' or a smaller max_kernel"
            )
        x = F.pad(audio[:, None, :], (half, half), mode=self.cfg.pad_mode)
        bank = self.kernels() if torch.compiler.is_exporting() else self.bank
        out = F.conv1d(x, bank, stride=self.cfg.hop)  # (B, 2·n_bins, N//hop + 1)
        re, im = out[:, : self.cfg.n_bins], out[:, self.cfg.n_bins :]
        mag = torch.sqrt(re * re + im * im)
        return torch.log1p(mag / self.cfg.log_eps)[:, None]
