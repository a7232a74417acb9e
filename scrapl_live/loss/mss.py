"""Multi-scale spectral (MSS) baseline losses of the SCRAPL paper (the paper's baselines), without auraloss.

All take ``forward(x, x_target)`` with (B, C, N) signals (channels folded into the batch) and return a
scalar.  STFTs are ``torch.stft`` with centre reflect padding, as auraloss and the reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import scipy.signal
import torch
from torch import nn

from scrapl_live.loss.validation import check_signal_pair

WINDOWS = ("hann", "bartlett", "blackman", "hamming", "kaiser", "flat_top")


def make_window(name: str, length: int) -> torch.Tensor:
    """Periodic analysis window (length,) float32: torch's ``<name>_window`` or scipy's flat-top."""
    if name not in WINDOWS:
        raise ValueError(f"window must be one of {WINDOWS}, got {name!r}")
    if name == "flat_top":
        return torch.from_numpy(scipy.signal.windows.flattop(length, sym=False)).float()
    return getattr(torch, f"{name}_window")(length)


def check_pair(
    x: torch.Tensor, x_target: torch.Tensor, min_samples: int = 1
) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate two (B, C, N) signals and fold channels: -> (B·C, N) each."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"x must be a torch.Tensor, got {type(x).__name__}")
    check_signal_pair(x, x_target, x.shape[-1])
    if x.shape[-1] < min_samples:
        raise ValueError(f"x has {x.shape[-1]} samples; this loss needs at least {min_samples}")
    return x.reshape(-1, x.shape[-1]), x_target.reshape(-1, x.shape[-1])


def stft_mag(x: torch.Tensor, n_fft: int, hop: int, window: torch.Tensor, eps: float | None) -> torch.Tensor:
    """|STFT| (B, n_fft // 2 + 1, frames) of x (B, N); eps: auraloss ``sqrt(max(|.|², eps))``, None: |.|."""
    spec = torch.stft(x, n_fft, hop, window.shape[0], window.to(x), return_complex=True)
    if eps is None:
        return spec.abs()
    return torch.sqrt(torch.clamp(spec.real**2 + spec.imag**2, min=eps))


def stft_term(
    x_mag: torch.Tensor, t_mag: torch.Tensor, w_sc: float, w_log_mag: float, w_lin_mag: float
) -> torch.Tensor:
    """auraloss ``STFTLoss`` terms: spectral convergence + L1 of log magnitudes + L1 of magnitudes."""
    loss = x_mag.new_zeros(())
    if w_sc:
        loss = loss + w_sc * torch.linalg.norm(t_mag - x_mag) / torch.linalg.norm(t_mag)
    if w_log_mag:
        loss = loss + w_log_mag * (x_mag.log() - t_mag.log()).abs().mean()
    if w_lin_mag:
        loss = loss + w_lin_mag * (x_mag - t_mag).abs().mean()
    return loss


class MultiResolutionSTFTLoss(nn.Module):
    """auraloss-style MR-STFT loss: mean over resolutions of :func:`stft_term` (eps = 1e-8)."""

    def __init__(
        self,
        fft_sizes: Sequence[int] = (64, 128, 256, 512, 1024, 2048),
        hop_sizes: Sequence[int] | None = None,
        win_lengths: Sequence[int] | None = None,
        window: str = "hann",
        w_sc: float = 0.0,
        w_log_mag: float = 0.0,
        w_lin_mag: float = 1.0,
        eps: float = 1e-8,
    ) -> None:
        super().__init__()
        self.fft_sizes = [int(n) for n in fft_sizes]
        self.hop_sizes = [n // 4 for n in self.fft_sizes] if hop_sizes is None else list(hop_sizes)
        self.win_lengths = list(self.fft_sizes) if win_lengths is None else list(win_lengths)
        if not len(self.fft_sizes) == len(self.hop_sizes) == len(self.win_lengths) > 0:
            raise ValueError("fft_sizes, hop_sizes and win_lengths must be non-empty and equally long")
        if any(w > n for w, n in zip(self.win_lengths, self.fft_sizes, strict=True)):
            raise ValueError("win_lengths must not exceed fft_sizes")
        self.w_sc, self.w_log_mag, self.w_lin_mag, self.eps = w_sc, w_log_mag, w_lin_mag, eps
        self.windows = [make_window(window, w) for w in self.win_lengths]

    def forward(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """x, x_target: (B, C, N) -> scalar."""
        x, t = check_pair(x, x_target, max(self.fft_sizes) // 2 + 1)
        terms = [
            stft_term(stft_mag(x, n, h, w, self.eps), stft_mag(t, n, h, w, self.eps),
                      self.w_sc, self.w_log_mag, self.w_lin_mag)
            for n, h, w in zip(self.fft_sizes, self.hop_sizes, self.windows, strict=True)
        ]
        return torch.stack(terms).mean()


class LogMSSLoss(nn.Module):
    """"MSS revisited": Σ_scales ||log1p|STFT x_target| - log1p|STFT x|||_p over (freq, time); batch mean.

    Defaults are the paper's: flat-top windows 67/127/257/509/1021/2053 (FFT = window), hops
    33/63/128/254/510/1026, p = 2.
    """

    def __init__(
        self,
        win_lengths: Sequence[int] = (67, 127, 257, 509, 1021, 2053),
        hop_sizes: Sequence[int] = (33, 63, 128, 254, 510, 1026),
        window: str = "flat_top",
        p: float = 2.0,
    ) -> None:
        super().__init__()
        self.win_lengths, self.hop_sizes = list(win_lengths), list(hop_sizes)
        if not len(self.win_lengths) == len(self.hop_sizes) > 0:
            raise ValueError("win_lengths and hop_sizes must be non-empty and equally long")
        self.p = p
        self.windows = [make_window(window, w) for w in self.win_lengths]

    def forward(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """x, x_target: (B, C, N) -> scalar."""
        x, t = check_pair(x, x_target, max(self.win_lengths) // 2 + 1)
        dist = x.new_zeros(x.shape[0])
        for w, h, win in zip(self.win_lengths, self.hop_sizes, self.windows, strict=True):
            diff = torch.log1p(stft_mag(t, w, h, win, None)) - torch.log1p(stft_mag(x, w, h, win, None))
            dist = dist + torch.linalg.vector_norm(diff, ord=self.p, dim=(-2, -1))
        return dist.mean()


class RandomResolutionSTFTLoss(nn.Module):
    """MSS with resolutions redrawn at every call (auraloss ``RandomResolutionSTFTLoss`` rule), seeded.

    Per call, for each of ``resolutions``: FFT size 2^k, k uniform in [log2 min_fft, log2 max_fft);
    hop = int(FFT · U[min_hop, max_hop)); window length = int(FFT · choice{1, ½, ¼}); window type
    uniform over hann/bartlett/blackman/hamming/kaiser; term = :func:`stft_term` with w_sc = w_log_mag
    = 1 (auraloss defaults); the loss is the mean over resolutions.  Draws come from a generator seeded
    with (seed, call count), so runs are reproducible and resume exactly (the count is a buffer).
    max_fft 16384 (2^14, as the reference's script) keeps every FFT shorter than the 32768/44100-sample
    signals of the paper; inputs must be longer than max_fft.
    """

    def __init__(
        self,
        resolutions: int = 3,
        min_fft_size: int = 16,
        max_fft_size: int = 16384,
        min_hop: float = 0.1,
        max_hop: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        if resolutions < 1 or not 2 <= min_fft_size < max_fft_size or not 0 < min_hop < max_hop <= 1:
            raise ValueError(
                "need resolutions >= 1, 2 <= min_fft_size < max_fft_size and 0 < min_hop < max_hop <= 1"
            )
        self.resolutions, self.min_fft, self.max_fft = resolutions, min_fft_size, max_fft_size
        self.min_hop, self.max_hop, self.seed = min_hop, max_hop, seed
        self.register_buffer("n_calls", torch.zeros((), dtype=torch.int64))
        self.last_resolutions: list[tuple[int, int, int, str]] = []

    def draw(self, call: int) -> list[tuple[int, int, int, str]]:
        """(fft, hop, window length, window) for each resolution of call number ``call``."""
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + call)
        lo, hi = int(math.log2(self.min_fft)), int(math.log2(self.max_fft))
        out = []
        for _ in range(self.resolutions):
            fft = 2 ** int(torch.randint(lo, hi, (1,), generator=gen))
            frac = self.min_hop + float(torch.rand(1, generator=gen)) * (self.max_hop - self.min_hop)
            win = int(fft * (1.0, 0.5, 0.25)[int(torch.randint(0, 3, (1,), generator=gen))])
            window = WINDOWS[int(torch.randint(0, 5, (1,), generator=gen))]
            out.append((fft, max(1, int(fft * frac)), win, window))
        return out

    def forward(self, x: torch.Tensor, x_target: torch.Tensor) -> torch.Tensor:
        """x, x_target: (B, C, N) with N > max_fft_size -> scalar; advances the call counter."""
        x, t = check_pair(x, x_target, self.max_fft + 1)
        self.last_resolutions = self.draw(int(self.n_calls))
        self.n_calls += 1
        terms = []
        for fft, hop, win, window in self.last_resolutions:
            w = make_window(window, win)
            x_mag, t_mag = stft_mag(x, fft, hop, w, 1e-8), stft_mag(t, fft, hop, w, 1e-8)
            terms.append(stft_term(x_mag, t_mag, 1.0, 1.0, 0.0))
        return torch.stack(terms).mean()
