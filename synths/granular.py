"""Granular chirplet texture (the paper's texture synth), vectorised over batch and grains.

Each of the 64 grains is an exponential chirp ``sin(2π·cumsum(f_k·2^{γt}/sr))`` with a log-uniform start
frequency f_k ∈ [256, 2048] Hz, a Hann window, amplitude a_k(θ_density)/sqrt(f_k), and a random onset;
the grains are overlap-added and the texture is normalised to unit L2 norm.  θ_density sets how many
grains are audible (θ = 1: all equal), θ_slope the shared chirp rate γ (oct/s).

Fixes of the reference implementation: all grains of all items are one (B, K, G) tensor placed with a
single ``index_add`` (the reference rolls a zero-padded copy per grain, in a loop per item; its onsets
are ≤ N - G so the roll never wraps and overlap-add is the same), and the per-item draws (64 start
frequencies, then 64 onsets, as the reference) come from a CPU generator seeded with the item's seed, so
a seed gives the same texture on every device.
"""

from __future__ import annotations

import math

import torch

from synths.base import ParamSpec, Synth


class Granular(Synth):
    """Chirplet texture. forward(theta (B, 2) = [density, slope], seed (B,)) -> (B, 1, N), unit L2 norm.

    Args (reference values as defaults): sample_rate, n_samples, n_grains, grain_samples, f0_min/f0_max
    (Hz, log-uniform grain start frequencies), q_cqt and hop (set the typical slope sr/(q·hop)),
    max_theta_slope (keeps the slope finite at θ_slope ∈ {0, 1}).
    """

    def __init__(
        self,
        sample_rate: int = 8192,
        n_samples: int = 32768,
        n_grains: int = 64,
        grain_samples: int = 4096,
        f0_min: float = 256.0,
        f0_max: float = 2048.0,
        q_cqt: int = 12,
        hop: int = 256,
        max_theta_slope: float = 0.95,
    ) -> None:
        super().__init__()
        if not 0 < grain_samples <= n_samples:
            raise ValueError(f"grain_samples must be in (0, n_samples], got {grain_samples}")
        if n_grains < 1:
            raise ValueError(f"n_grains must be >= 1, got {n_grains}")
        if not 0 < f0_min <= f0_max:
            raise ValueError(f"need 0 < f0_min <= f0_max, got {f0_min}, {f0_max}")
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.n_grains = int(n_grains)
        self.grain_samples = int(grain_samples)
        self.log2_f0 = (math.log2(f0_min), math.log2(f0_max))
        gamma_max = math.tan(max_theta_slope * math.pi / 2) * sample_rate / (q_cqt * hop) / 4
        self.params = [
            ParamSpec("density", "", 0.0, 1.0, default=0.5),
            ParamSpec(
                "slope", "oct/s", -gamma_max, gamma_max, scale="tan", default=0.0, warp=max_theta_slope
            ),
        ]

    def amplitudes(self, density: torch.Tensor) -> torch.Tensor:
        """Grain amplitudes a_k (before the 1/sqrt(f_k) factor). density: (B,) in [0, 1] → (B, K), max 1."""
        k = self.constant("grain_index", density, lambda: torch.arange(self.n_grains, dtype=torch.float64))
        d = density.unsqueeze(-1)
        offset = 0.25 * d + 0.75 * d * d
        a = 1.0 - torch.sigmoid(2.0 * (1.0 - d) * self.n_grains * (k / self.n_grains - offset))
        return a / a.amax(dim=-1, keepdim=True)

    def grains(self, theta: torch.Tensor, seed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Windowed chirplet grains and their onsets, before placement.

        theta: (B, 2) validated, seed: (B,) int64 CPU → grains (B, K, G) (theta's dtype), onsets (B, K) int64.
        """
        g_len = self.grain_samples
        u_f0, u_onset = self.draw(
            seed, lambda g: (torch.rand(self.n_grains, generator=g), torch.rand(self.n_grains, generator=g))
        )
        lo, hi = self.log2_f0
        f0 = torch.exp2(lo + (hi - lo) * u_f0.to(device=theta.device, dtype=theta.dtype)).unsqueeze(-1)
        onsets = (u_onset * (self.n_samples - g_len)).long()  # float32 product, as the reference

        t = self.constant(
            "grain_time", theta, lambda: torch.arange(g_len, dtype=torch.float64) / self.sample_rate
        )
        t = t - g_len / self.sample_rate / 2
        window = self.constant(
            "hann", theta, lambda: torch.sin(math.pi * torch.arange(g_len, dtype=torch.float64) / g_len) ** 2
        )
        gamma = self.params[1].to_physical(theta[:, 1]).view(-1, 1, 1)
        inst_freq = f0 * torch.exp2(gamma * t) / self.sample_rate  # (B, K, G) cycles per sample
        phase = (2 * math.pi) * torch.cumsum(inst_freq, dim=-1)
        amp = (self.amplitudes(theta[:, 0]).unsqueeze(-1) / torch.sqrt(f0)) * window
        return torch.sin(phase) * amp, onsets

    def _render(self, theta: torch.Tensor, seed: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        grains, onsets = self.grains(theta, seed)
        batch, n = theta.shape[0], self.n_samples
        start = onsets + n * torch.arange(batch).unsqueeze(-1)  # flat index of each grain's first sample
        idx = (start.unsqueeze(-1) + torch.arange(self.grain_samples)).reshape(-1).to(theta.device)
        x = torch.zeros(batch * n, dtype=theta.dtype, device=theta.device).index_add(
            0, idx, grains.reshape(-1)
        )
        x = x.view(batch, n)
        return x / torch.linalg.vector_norm(x, dim=-1, keepdim=True)
