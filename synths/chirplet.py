"""AM/FM chirplet (the paper's chirplet synth), vectorised over the batch.

One exponential chirp starting at f0 (frequency f0·2^{fm·t}, t centred on the middle sample) under a
Gaussian window of std 0.1·bw/fm samples, scaled by fm, amplitude-modulated by sin(2π·(am/2)·t), then
shifted by δ samples (zeros where the shift leaves the frame).  θ_AM and θ_FM map log-uniformly onto
the preset's ranges.  δ is drawn per item from a CPU generator seeded with the item's seed (the
reference's order: δ first), or given explicitly; ``max_shift = 0`` turns the shift off.

Presets: the four configurations of the paper's Table 3 (lo_lo, lo_med, hi_med, hi_hi), each with
``ranges="code"`` (what the reference's ``chirplet_8khz_2_*.yml`` configs ran) or ``ranges="paper"``
(what the paper states).  The reference loops over items with ``.item()`` syncs; here the shift is
applied by evaluating the chirp on a per-item shifted sample grid, so there is no loop and no roll.
"""

from __future__ import annotations

import math

import torch

from synths.base import ParamSpec, Synth

# preset -> (am_min Hz, am_max Hz, fm_min oct/s, fm_max oct/s)
PRESETS: dict[str, dict[str, tuple[float, float, float, float]]] = {
    "code": {
        "lo_lo": (0.9899, 1.9799, 0.5, 1.0),
        "lo_med": (0.9899, 1.9799, 2.0, 4.0),
        "hi_med": (3.9598, 7.9196, 2.0, 4.0),
        "hi_hi": (3.9598, 7.9196, 8.0, 16.0),
    },
    "paper": {
        "lo_lo": (1.0, 2.0, 0.5, 1.0),
        "lo_med": (1.0, 2.0, 2.0, 4.0),
        "hi_med": (2.8, 8.4, 2.0, 4.0),
        "hi_hi": (2.8, 8.4, 4.0, 12.0),
    },
}


class Chirplet(Synth):
    """AM/FM chirplet. forward(theta (B, 2) = [am, fm], seed (B,), shift (B,) | None) -> (B, 1, N).

    Args: preset (lo_lo | lo_med | hi_med | hi_hi), ranges ("code" | "paper"), sample_rate, n_samples,
    f0 (Hz), bw_oct (window bandwidth scale: bw = int(bw_oct·sr) samples), sigma0, max_shift (|δ| bound).
    """

    def __init__(
        self,
        preset: str = "hi_med",
        ranges: str = "code",
        sample_rate: int = 8192,
        n_samples: int = 32768,
        f0: float = 512.0,
        bw_oct: float = 2.0,
        sigma0: float = 0.1,
        max_shift: int = 2048,
    ) -> None:
        super().__init__()
        if ranges not in PRESETS:
            raise ValueError(f"ranges must be one of {sorted(PRESETS)}, got {ranges!r}")
        if preset not in PRESETS[ranges]:
            raise ValueError(f"preset must be one of {sorted(PRESETS[ranges])}, got {preset!r}")
        if not 0 <= max_shift < n_samples:
            raise ValueError(f"max_shift must be in [0, n_samples), got {max_shift}")
        if f0 <= 0 or bw_oct <= 0 or sigma0 <= 0:
            raise ValueError(f"f0, bw_oct and sigma0 must be > 0, got {f0}, {bw_oct}, {sigma0}")
        am_min, am_max, fm_min, fm_max = PRESETS[ranges][preset]
        self.preset, self.ranges = preset, ranges
        self.sample_rate = int(sample_rate)
        self.n_samples = int(n_samples)
        self.f0 = float(f0)
        self.window_scale = sigma0 * int(bw_oct * sample_rate)  # window std = window_scale / fm samples
        self.max_shift = int(max_shift)
        self.params = [
            ParamSpec("am", "Hz", am_min, am_max, scale="log"),
            ParamSpec("fm", "oct/s", fm_min, fm_max, scale="log"),
        ]

    def draw_shift(self, seed: torch.Tensor) -> torch.Tensor:
        """δ per item (B,) int64 from its seed, uniform in [-max_shift, max_shift] (0 if max_shift = 0)."""
        if self.max_shift == 0:
            return torch.zeros(len(seed), dtype=torch.int64)
        lo, hi = -self.max_shift, self.max_shift + 1
        (delta,) = self.draw(seed, lambda g: (torch.randint(lo, hi, (1,), generator=g),))
        return delta[:, 0]

    def _render(self, theta: torch.Tensor, seed: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        n = self.n_samples
        delta = self.draw_shift(seed) if shift is None else shift
        grid = self.constant("grid", theta, lambda: torch.arange(n, dtype=torch.float64))
        idx = grid - delta.to(device=theta.device, dtype=theta.dtype).unsqueeze(-1)  # source sample (B, N)
        inside = ((idx >= 0) & (idx < n)).to(theta.dtype)
        t = (idx - n // 2) / self.sample_rate
        phys = self.to_physical(theta)
        am, fm = phys["am"].unsqueeze(-1), phys["fm"].unsqueeze(-1)
        fm_ln2 = fm * math.log(2.0)
        phi = self.f0 / fm_ln2 * torch.expm1(fm_ln2 * t)  # ∫ f0·2^{fm·t} dt, zero at t = 0
        std = self.window_scale / fm
        window = torch.exp(-0.5 * ((idx - (n - 1) / 2) / std) ** 2)
        carrier = torch.sin(2 * math.pi * phi)
        modulator = torch.sin(math.pi * am * t)  # rate am/2: a signed sinusoid has |·| peaks at rate am
        return carrier * fm * window * modulator * inside
