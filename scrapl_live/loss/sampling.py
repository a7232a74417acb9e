"""Path sampling for SCRAPL: the reference draw rule, step-seeded draws and fixed evaluation path sets.

The draw rule equals scrapl-loss 0.1.0 ``SCRAPLLoss.sample_path`` for one path (same generator calls
in the same order, so a seed gives the same path), extended to ``k`` distinct paths per call.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from scrapl_live.loss.validation import check_path_indices

_MASK64 = (1 << 64) - 1


def step_seed(base_seed: int, step: int) -> int:
    """Seed for the draw at ``step`` of a run seeded with ``base_seed`` (splitmix64 of the pair).

    Every rank of a distributed run computes the same value from (base_seed, step), so all ranks draw
    the same path without communicating.  The mixing matters: consecutive seeds give correlated first
    draws from torch's CPU generator.
    """
    z = (base_seed * 0x9E3779B97F4A7C15 + (step + 1) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


def draw_paths(
    probs: torch.Tensor,
    k: int,
    unsampled: list[int],
    visit_all_first: bool,
    generator: torch.Generator | None,
) -> list[int]:
    """Draw ``k`` distinct path indices.

    While ``visit_all_first`` holds and ``unsampled`` is non-empty, paths are popped from ``unsampled``
    uniformly at random (``unsampled`` is modified in place); the rest come from ``probs`` (P,) float64
    by multinomial sampling without replacement.  For k = 1 this is exactly the reference rule.
    """
    chosen: list[int] = []
    while visit_all_first and unsampled and len(chosen) < k:
        pos = int(torch.randint(0, len(unsampled), (1,), generator=generator).item())
        chosen.append(unsampled.pop(pos))
    rest = k - len(chosen)
    if rest == 0:
        return chosen
    weights = probs
    if chosen:
        weights = probs.clone()
        weights[chosen] = 0.0
    n_possible = int((weights > 0).sum())
    if n_possible < rest:
        raise ValueError(
            f"paths_per_step={k} distinct paths requested but only {n_possible + len(chosen)} paths "
            "have non-zero probability"
        )
    drawn = torch.multinomial(weights, num_samples=rest, generator=generator)
    return chosen + [int(p) for p in drawn.tolist()]


def eval_path_set(spec: int | str | Sequence[int], n_paths: int) -> list[int]:
    """Fixed, sorted path set used in evaluation mode.

    ``spec``: "all" (every path), an int k (k paths evenly spread over [0, n_paths), always including
    the first and last; all paths if k ≥ n_paths), or an explicit sequence of path indices.
    """
    if isinstance(spec, str):
        if spec != "all":
            raise ValueError(f"eval_paths must be 'all', a count or a list of path indices, got {spec!r}")
        return list(range(n_paths))
    if isinstance(spec, int) and not isinstance(spec, bool):
        if spec < 1:
            raise ValueError(f"eval_paths={spec} must be >= 1")
        spec = min(spec, n_paths)
        if spec == 1:
            return [n_paths // 2]
        return sorted({round(i * (n_paths - 1) / (spec - 1)) for i in range(spec)})
    return sorted(set(check_path_indices(spec, n_paths)))
