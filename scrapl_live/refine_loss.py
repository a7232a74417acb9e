"""The per-hit loss of :mod:`scrapl_live.refine`: a multi-resolution STFT distance plus a loudness-envelope
term, per hit, against targets whose spectra are computed once.

Spectral part, per resolution (FFT size, hop, Hann window length): spectral convergence
‖|Y| - |X|‖ / ‖|X|‖ plus the mean L1 of log magnitudes (magnitudes floored as auraloss,
sqrt(max(|·|², 1e-8))), averaged over resolutions: auraloss's MR-STFT terms, per hit rather than pooled
over the batch, at three resolutions (FFT 2048, 512, 128, hop = FFT/4) that cost a quarter of auraloss's
defaults per step and fit as well (docs/results.md, docs/benchmarks.md).  Envelope part: the L1
between the per-frame level in dB (10·log10 of the frame's mean square + 1e-8, unweighted) of the
resynthesis and of the target.  The spectral part is dominated by the attack, where most of the energy
is; the envelope part weighs every frame's level equally and so the quiet tail, i.e. the decay times.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from scrapl_live.loss.mss import stft_mag

RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((2048, 512, 2048), (512, 128, 512), (128, 32, 128))
"""(FFT size, hop, window length) of the spectral part."""
ENV_WEIGHT = 0.1
"""Weight of the envelope L1 per dB (0.05 left more decay error, 0.2 cost spectral fit: docs/results.md)."""
ENV_FRAME, ENV_HOP = 1024, 256
POWER_EPS = 1e-8


def frame_level_db(x: torch.Tensor, frame: int = ENV_FRAME, hop: int = ENV_HOP) -> torch.Tensor:
    """Per-frame level 10·log10(mean square + 1e-8) in dB. x (B, N) -> (B, F), F = 1 + (N - frame) // hop."""
    ms = F.avg_pool1d(x.unsqueeze(1) ** 2, frame, hop)[:, 0]
    return 10.0 * torch.log10(ms + POWER_EPS)


class HitLoss(nn.Module):
    """Per-hit distance to fixed targets. forward(y (B, 1, N)) -> (B,).

    targets: (B, 1, N); resolutions: (FFT size, hop, window length) of the spectral part; env_weight:
    weight of the envelope L1 per dB (0: the spectral part alone).
    """

    def __init__(
        self,
        targets: torch.Tensor,
        resolutions: Sequence[tuple[int, int, int]] = RESOLUTIONS,
        env_weight: float = ENV_WEIGHT,
    ) -> None:
        super().__init__()
        x = targets.reshape(targets.shape[0], -1)
        self.resolutions = [(int(n), int(h), torch.hann_window(int(w), device=x.device))
                            for n, h, w in resolutions]  # fmt: skip
        self.target_mags = [stft_mag(x, n, h, w, POWER_EPS) for n, h, w in self.resolutions]
        self.target_norms = [torch.linalg.vector_norm(m, dim=(-2, -1)) for m in self.target_mags]
        self.target_level = frame_level_db(x)
        self.env_weight = float(env_weight)

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """y (B, 1, N) -> per-hit loss (B,)."""
        y = y.reshape(y.shape[0], -1)
        terms = []
        spectra = zip(self.resolutions, self.target_mags, self.target_norms, strict=True)
        for (n, h, w), t_mag, t_norm in spectra:
            mag = stft_mag(y, n, h, w, POWER_EPS)
            sc = torch.linalg.vector_norm(mag - t_mag, dim=(-2, -1)) / t_norm.clamp(min=POWER_EPS)
            terms.append(sc + (mag.log() - t_mag.log()).abs().mean(dim=(-2, -1)))
        loss = torch.stack(terms).mean(0)
        if self.env_weight:
            loss = loss + self.env_weight * (frame_level_db(y) - self.target_level).abs().mean(-1)
        return loss
