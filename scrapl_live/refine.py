"""Per-hit refinement by analysis by synthesis: θ optimised through the differentiable TR-808 synth.

Each hit's θ starts at the encoder's θ̂ (or at random draws: the search limit the encoder is measured
against) and is optimised with Adam in logit space (θ = sigmoid(z) stays in (0, 1)) so that the synth's
output matches the whole hit.  All hits of a file are refined together; their losses are independent.
The target is the hit from its onset to the next onset (at most the synth's length), peak-normalised as
the training one-shots; both signals are masked beyond that span, so a hit cut short by the next one is
not asked to ring out into silence, and each hit is rendered only over its own span (rounded up to a
multiple of ``BUCKET``; hits of equal rendered length share one synth call).  The loss
(:class:`scrapl_live.refine_loss.HitLoss`) is a per-hit MR-STFT distance plus a loudness-envelope term
that weighs the quiet tail (the decay); measured against other losses in docs/results.md.
Deterministic given the seed (noise seeds and random starts are functions of it).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_STEPS = 100  # a 16-hit file (hits 0.5 s apart): see docs/benchmarks.md (bench_refine)
DEFAULT_LR = 0.1
BUCKET = 2048  # rendered lengths: each hit's rounded up to a multiple of this
EPS = 1e-3  # θ̂ is clipped to [EPS, 1 - EPS] before the logit


@dataclass
class RefineResult:
    """theta (B, U) float32 in [0, 1]; loss (B,) final :class:`HitLoss` per hit; seconds of the search."""

    theta: np.ndarray
    loss: np.ndarray
    seconds: float


def default_device() -> torch.device:
    """The GPU when present, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def hit_targets(audio: np.ndarray, onsets: Sequence[int], n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """Cut each hit from its onset to the next onset (≤ ``n_samples``), peak-normalised, zero-padded.

    audio (T,) at the synth's rate -> targets (B, n_samples) float32 and their lengths (B,) int64.
    """
    on = np.asarray(sorted(int(o) for o in onsets), dtype=np.int64)
    ends = np.minimum(np.append(on[1:], audio.size), on + n_samples)
    out = np.zeros((on.size, n_samples), np.float32)
    for i, (a, b) in enumerate(zip(on, ends, strict=True)):
        seg = audio[a:b]
        peak = float(np.abs(seg).max()) if seg.size else 0.0
        out[i, : seg.size] = seg / peak if peak > 0 else seg
    return out, (ends - on).astype(np.int64)


def refine(
    targets: np.ndarray,
    theta0: np.ndarray | None = None,
    lengths: np.ndarray | None = None,
    steps: int = DEFAULT_STEPS,
    lr: float = DEFAULT_LR,
    starts: int = 1,
    seed: int = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> RefineResult:
    """Optimise θ of every hit against ``targets`` (B, N) at the synth's rate, N ≤ its 1 s length (the
    synth renders N samples: short hits cost less).

    theta0 (B, U): the encoder's θ̂ (first start); None: from scratch, every start drawn at random.
    starts: starts per hit (beyond θ̂, random draws); the start with the lowest final loss wins.
    lengths (B,): valid samples per target (default: all).
    """
    import torch
    from tqdm import tqdm

    import synths

    if steps < 0 or starts < 1:
        raise ValueError(f"need steps >= 0 and starts >= 1, got steps={steps}, starts={starts}")
    dev = torch.device(device) if device is not None else default_device()
    b, n = targets.shape
    ref = synths.get("tr808")
    full = ref.n_samples
    if not BUCKET <= n <= full:
        raise ValueError(f"targets must have {BUCKET}..{full} samples (the synth's length at most), got {n}")
    lengths = np.full(b, n) if lengths is None else np.minimum(np.asarray(lengths, np.int64), n)
    gen = torch.Generator().manual_seed(int(seed))
    init = torch.rand(b, starts, ref.n_params, generator=gen)
    if theta0 is not None:
        init[:, 0] = torch.as_tensor(theta0, dtype=torch.float32).clamp(EPS, 1 - EPS)
    z = init.clamp(EPS, 1 - EPS).logit().reshape(b * starts, -1).to(dev).requires_grad_(True)
    groups = _groups(targets, lengths, starts, seed, dev)
    opt = torch.optim.Adam([z], lr=lr)
    t0 = time.perf_counter()
    for _ in tqdm(range(steps), desc="refine", unit="step", disable=not progress, leave=False):
        theta = torch.sigmoid(z)
        value = sum(g.loss(theta).sum() for g in groups)  # a sum: each hit's gradient is its own loss's
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()
    with torch.no_grad():
        theta = torch.sigmoid(z)
        final = torch.empty(b * starts, device=dev)
        for g in groups:
            final[g.rows] = g.loss(theta)
        final = final.reshape(b, starts)
    best = final.argmin(dim=1)
    rows = torch.arange(b, device=dev) * starts + best
    return RefineResult(
        theta=theta[rows].float().cpu().numpy(),
        loss=final[torch.arange(b), best].float().cpu().numpy(),
        seconds=time.perf_counter() - t0,
    )


@dataclass
class _Group:
    """Hits rendered at the same length: their rows of z, synth, noise seeds, mask (G, 1, n) and loss."""

    rows: torch.Tensor
    synth: torch.nn.Module
    seeds: torch.Tensor
    mask: torch.Tensor
    hit_loss: torch.nn.Module

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        """theta (B·S, U) of all hits -> this group's per-hit loss (G,)."""
        return self.hit_loss(self.synth(theta[self.rows], self.seeds) * self.mask)


def _groups(
    targets: np.ndarray, lengths: np.ndarray, starts: int, seed: int, dev: torch.device
) -> list[_Group]:
    """Group the hits by rendered length (each hit's length rounded up to a multiple of BUCKET)."""
    import torch

    import synths
    from scrapl_live.refine_loss import HitLoss

    n = targets.shape[1]
    rendered = np.clip(-(-lengths // BUCKET) * BUCKET, BUCKET, n)
    out = []
    for r in sorted(set(rendered.tolist())):
        hits = torch.as_tensor(np.flatnonzero(rendered == r))
        rows = (hits.unsqueeze(1) * starts + torch.arange(starts)).reshape(-1)
        valid = torch.as_tensor(lengths)[hits].repeat_interleave(starts)
        mask = (torch.arange(r).unsqueeze(0) < valid.unsqueeze(1)).float().unsqueeze(1).to(dev)
        x = torch.as_tensor(targets[hits.numpy(), :r], dtype=torch.float32).repeat_interleave(starts, 0)
        x = x.unsqueeze(1).to(dev) * mask
        seeds = (hits + int(seed) * 1_000_003).repeat_interleave(starts).to(dev)  # as refine_file renders
        synth = synths.get("tr808", n_samples=int(r), pre_delay=0, max_shift=0).to(dev)
        out.append(_Group(rows.to(dev), synth, seeds, mask, HitLoss(x)))
    return out


class HitRecorder:
    """Hit sink keeping each hit's latest (onset, θ̂) by ``hit_id``, for refinement after a file run."""

    def __init__(self) -> None:
        self.hits: dict[int, tuple[int, np.ndarray]] = {}

    def on_hit(self, event) -> None:
        self.hits[event.hit_id] = (int(event.t_samples), np.asarray(event.theta, np.float32))

    on_refine = on_hit


def refine_file(
    audio: np.ndarray,
    sample_rate: int,
    hits: Sequence[tuple[int, np.ndarray]],
    steps: int = DEFAULT_STEPS,
    seed: int = 0,
    n_out: int | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, RefineResult]:
    """Refine the hits ``(onset, θ̂)`` of ``audio`` (T,) and render the resynthesis (n_out,) float32: each
    hit's voice with the refined θ at its onset, its peak matched to the input hit's (as the engine's
    voices, at most ×10)."""
    import torch

    import synths

    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    if sample_rate != synth.sample_rate:
        raise ValueError(f"audio must be at the synth's {synth.sample_rate} Hz, got {sample_rate}")
    n_out = audio.size if n_out is None else int(n_out)
    out = np.zeros(n_out, np.float32)
    hits = sorted(hits, key=lambda h: h[0])
    if not hits:
        return out, RefineResult(np.zeros((0, synth.n_params), np.float32), np.zeros(0, np.float32), 0.0)
    onsets = [h[0] for h in hits]
    targets, lengths = hit_targets(audio, onsets, synth.n_samples)
    theta0 = np.stack([h[1] for h in hits])
    result = refine(targets, theta0, lengths, steps=steps, seed=seed, progress=progress)
    with torch.no_grad():
        seeds = torch.arange(len(hits)) + seed * 1_000_003
        voices = synth(torch.from_numpy(result.theta), seeds)[:, 0].numpy()
    for onset, length, voice in zip(onsets, lengths, voices, strict=True):
        peak = float(np.abs(audio[onset : onset + length]).max()) if length else 0.0
        gain = min(peak / max(float(np.abs(voice[:length]).max()) if length else 0.0, 1e-4), 10.0)
        seg = voice[: max(0, n_out - onset)]
        out[onset : onset + seg.size] += gain * seg
    return out, result
