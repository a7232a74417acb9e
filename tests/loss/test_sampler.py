"""PathSampler alone: seeded draws, counters, θ-IS probabilities (closed form), exact state round trip."""

from __future__ import annotations

import pytest
import torch

from scrapl_live.loss import PathSampler


def test_step_seeded_draws_are_reproducible_and_distinct() -> None:
    a, b = PathSampler(20, sampling_seed=3), PathSampler(20, sampling_seed=3)
    draws = []
    for _ in range(5):
        paths = a.sample(4)
        assert len(set(paths)) == 4 and all(0 <= p < 20 for p in paths)
        assert b.sample(4) == paths
        a.record(paths, training=True)
        b.record(paths, training=True)
        draws.append(paths)
    assert len({tuple(d) for d in draws}) > 1  # the step enters the seed
    assert a.scrapl_t == 5 and a.visits == 20 and sum(a.path_counts.values()) == 20
    a.record([7], training=False)  # an eval call with path_idx: current path only
    assert a.curr_path_indices == [7] and a.visits == 20 and a.scrapl_t == 5


def test_visit_all_first_pops_every_path_once() -> None:
    s = PathSampler(6, sample_all_paths_first=True, sampling_seed=0)
    seen = []
    for _ in range(3):
        paths = s.sample(2)
        s.record(paths, training=True)
        seen += paths
    assert sorted(seen) == list(range(6)) and s.unsampled_paths == []


def test_theta_probs_equal_the_closed_form() -> None:
    """Once every path of every θ dimension has a value: π_p = mean_u ((1-f)·v_{u,p}/Σ_q v_{u,q} + f/P).
    (With f > 0 and several θ dimensions, scrapl-loss's rule leaves the not-yet-updated dimensions
    without the (1-f) factor, so the θ-IS warm-up sets all dimensions at once; here f = 0 for U = 2.)"""
    n = 5
    vals = torch.tensor([[1.0, 2.0, 3.0, 4.0, 5.0], [5.0, 1.0, 1.0, 1.0, 2.0]], dtype=torch.float64)
    for n_theta, f in ((2, 0.0), (1, 0.2)):
        s = PathSampler(n, n_theta=n_theta, min_prob_frac=f)
        for u in range(n_theta):
            for p in range(n):
                s.update_prob(p, vals[u, p], theta_idx=u)
        v = vals[:n_theta]
        expected = ((1 - f) * v / v.sum(1, keepdim=True) + f / n).mean(0)
        torch.testing.assert_close(s.probs, expected, rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="theta_idx"):
        s.update_prob(0, 1.0, theta_idx=2)
    with pytest.raises(ValueError, match="val"):
        s.update_prob(0, -1.0)
    s.reset()
    torch.testing.assert_close(s.probs, torch.full((n,), 1 / n, dtype=torch.float64))


def test_state_round_trip_continues_the_same_draws() -> None:
    a = PathSampler(30, n_theta=2, sampling_seed=None)
    torch.manual_seed(1)
    for p, v in ((3, 0.5), (10, 2.0), (20, 1e-3)):
        a.update_prob(p, v, theta_idx=1)
    for _ in range(4):
        a.record(a.sample(3, seed=11), training=True)
    b = PathSampler(30, n_theta=2)
    b.load_state_dict(a.state_dict())
    assert dict(b.path_counts) == dict(a.path_counts) and b.scrapl_t == a.scrapl_t
    assert {u: ps for u, ps in b.updated_path_indices.items() if ps} == {1: {3, 10, 20}}
    assert {u: ps for u, ps in a.updated_path_indices.items() if ps} == {1: {3, 10, 20}}
    torch.testing.assert_close(b.probs, a.probs, rtol=0, atol=0)
    torch.manual_seed(5)
    first = [a.sample(2) for _ in range(5)]
    torch.manual_seed(5)
    assert [b.sample(2) for _ in range(5)] == first
    with pytest.raises(ValueError, match="n_theta"):
        PathSampler(4, n_theta=0)
    with pytest.raises(ValueError, match="min_prob_frac"):
        PathSampler(4, min_prob_frac=1.0)
