"""Descent votes: how reliably each SCRAPL path's distance falls when a prediction moves towards the
true synth parameters, and path sampling probabilities from them (``scrapl-live train --vote-is``).

Why: a SCRAPL step follows one path, and with P-Adam every path's step has a similar size, so path p
moves θ̂_u the right way with the probability a_{p,u} that its distance falls towards θ_u: a mean
drift of 2a − 1 of a step.  On the granular texture only 64–78 % of the paths point the chirp slope
the right way (docs/results.md, session 8), so uniform sampling drifts the slope slowly and half the
seeds never leave chance on it.  Weighting path p for θ_u by max(2a_{p,u} − 1, 0), with θ-IS's rule
(normalise per θ dimension, mix in the floor ``VOTE_FLOOR``, average over θ), spends the steps on the
paths that vote well.  Like θ-IS it is a warm-up on the training set; it needs synthetic targets with known
θ (the encoder itself never sees θ).

Estimate: for each target x = synth(θ, seed), a random prediction θ̂ ~ U[0, 1]^U rendered with a fresh
grain seed (as a training step renders it); for each θ_u with |θ_u − θ̂_u| > ``step``, path p votes
right when its distance to x falls as θ̂_u alone moves ``step`` towards θ_u.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from scrapl_live.loss import SCRAPLLoss
from scrapl_live.train.data import mix_seed

SynthFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

# Share of the sampling mass spread evenly over all paths (the training loss's ``min_prob_frac`` under
# --vote-is), so that every path and its P-SAGA memory keeps being visited.
VOTE_FLOOR = 0.1


def descent_votes(
    loss: SCRAPLLoss,
    synth: SynthFn,
    x_target: torch.Tensor,
    theta: torch.Tensor,
    theta_hat: torch.Tensor,
    seed_hat: torch.Tensor,
    step: float = 0.05,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Votes (P, B, U) bool (True: path p's distance falls as θ̂_u moves towards θ_u) and the valid
    mask (B, U) (|θ_u − θ̂_u| > step) for targets x_target (B, C, N) of parameters θ (B, U) in [0, 1],
    predictions θ̂ (B, U) rendered by ``synth(θ̂, seed_hat)``."""
    if theta.ndim != 2 or theta_hat.shape != theta.shape:
        raise ValueError(f"theta and theta_hat must both be (B, U), got {tuple(theta.shape)}, "
                         f"{tuple(theta_hat.shape)}")
    if theta.shape[0] != x_target.shape[0] or seed_hat.shape != theta.shape[:1]:
        raise ValueError("x_target, theta and seed_hat must have the same batch size")
    if not 0 < step < 1:
        raise ValueError(f"step must be in (0, 1), got {step}")
    n_theta = theta.shape[1]
    towards = torch.sign(theta - theta_hat)
    moved = theta_hat.repeat(n_theta, 1, 1)  # (U, B, U): row u moves θ̂_u only
    for u in range(n_theta):
        moved[u, :, u] = (theta_hat[:, u] + step * towards[:, u]).clamp(0.0, 1.0)
    candidates = torch.cat([theta_hat[None], moved])  # (1 + U, B, U)
    with torch.no_grad():
        x_hat = torch.stack([synth(c, seed_hat) for c in candidates])
        d = loss.path_dists(x_hat, x_target, range(loss.n_paths))  # (1 + U, P, B)
    votes = (d[1:] < d[:1]).permute(1, 2, 0)  # (P, B, U)
    valid = (theta - theta_hat).abs() > step
    return votes, valid


def agreement(votes: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Share a_{p,u} of the valid items on which path p votes right for θ_u: (P, U) float64 (NaN for a
    θ_u without valid items)."""
    if votes.ndim != 3 or valid.shape != votes.shape[1:]:
        raise ValueError(f"votes (P, B, U) and valid (B, U) expected, got {tuple(votes.shape)}, "
                         f"{tuple(valid.shape)}")
    w = valid.double()
    return (votes.double() * w).sum(1) / w.sum(0)


def vote_values(share: torch.Tensor) -> dict[int, torch.Tensor]:
    """Per-path importance values {p: (U,)} from the agreement (P, U): max(2a_{p,u} − 1, 0), the mean
    drift of a step on path p (``SCRAPLLoss.set_path_values`` normalises them per θ dimension)."""
    if bool(share.isnan().any()):
        raise ValueError("some θ dimension has no valid vote (every |θ − θ̂| ≤ step): use more items")
    drift = (2.0 * share - 1.0).clamp(min=0.0)
    if bool((drift.sum(0) == 0).any()):
        raise ValueError("no path votes right more often than not for some θ dimension")
    return {p: drift[p] for p in range(share.shape[0])}


def vote_warmup(
    loss: SCRAPLLoss,
    synth: SynthFn,
    targets: Callable[[int], tuple[torch.Tensor, torch.Tensor | None]],
    n_batches: int,
    save_dir: Path | None,
    seed: int,
    step: float = 0.05,
) -> torch.Tensor:
    """Agreement (P, U) over training batches 0..n_batches-1 (``targets(b)`` -> audio (B, C, N) and θ of
    its first rows, the synthetic ones).  Each batch's votes go to ``save_dir/votes_{b}.pt`` and are
    reused when present, so an interrupted warm-up resumes; ``save_dir/agreement.pt`` holds the result.
    ``save_dir=None`` caches nothing (the other ranks of a multi-process run, which compute the same
    votes without racing rank 0 for its files)."""
    from tqdm import tqdm

    if save_dir is not None:
        save_dir.mkdir(parents=True, exist_ok=True)
    all_votes, all_valid = [], []
    for b in tqdm(range(n_batches), desc="descent votes"):
        path = None if save_dir is None else save_dir / f"votes_{b}.pt"
        if path is not None and path.is_file():
            saved = torch.load(path, weights_only=True)
            votes, valid = saved["votes"], saved["valid"]
        else:
            x, theta = targets(b)
            if theta is None or len(theta) == 0:
                raise ValueError("descent votes need synthetic targets with known θ")
            x = x[: len(theta)]
            gen = torch.Generator().manual_seed(mix_seed(seed, b, 4))
            theta_hat = torch.rand(theta.shape, generator=gen, dtype=theta.dtype).to(theta.device)
            seed_hat = torch.randint(0, 2**31 - 1, (len(theta),), generator=gen)
            votes, valid = descent_votes(loss, synth, x, theta, theta_hat, seed_hat, step)
            votes, valid = votes.cpu(), valid.cpu()
            if path is not None:
                torch.save({"votes": votes, "valid": valid}, path)
        all_votes.append(votes)
        all_valid.append(valid)
    share = agreement(torch.cat(all_votes, 1), torch.cat(all_valid))
    if save_dir is not None:
        torch.save(share, save_dir / "agreement.pt")
    return share
