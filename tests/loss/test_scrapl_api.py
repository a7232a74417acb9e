"""SCRAPLLoss behaviour on a small configuration (P = 14): input validation, k paths per step,
target branch, evaluation mode, step-seeded sampling, state dict round trip, optimizer-side transform."""

from __future__ import annotations

import pytest
import torch

from scrapl_live.loss import SCRAPLLoss

N = 1024
CFG = dict(shape=N, J=4, Q1=2, Q2=1, J_fr=2, Q_fr=1, use_rho_log1p=True, grad_mult=1.0)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def signals() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return torch.randn(2, 1, N, generator=g), torch.randn(2, 1, N, generator=g)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda x, t: (x[0], t[0]), "ndim"),
        (lambda x, t: (x, t[:1]), "shapes differ"),
        (lambda x, t: (x[..., :-1], t[..., :-1]), "samples"),
        (lambda x, t: (x.clone().index_fill_(2, torch.tensor([5]), float("nan")), t), "NaN"),
        (lambda x, t: (x, t.clone().index_fill_(2, torch.tensor([5]), float("inf"))), "x_target contains"),
        (lambda x, t: (x.long(), t.long()), "floating-point"),
        (lambda x, t: (x, t.double()), "dtypes differ"),
        (lambda x, t: (x.double(), t.double()), "like the loss"),
        (lambda x, t: (x, t.to("meta")), "devices"),
    ],
)
def test_bad_inputs_raise_value_error(signals, make, match) -> None:
    loss = SCRAPLLoss(**CFG)
    x, t = make(*signals)
    with pytest.raises(ValueError, match=match):
        loss(x, t)
    assert loss.scrapl_t == 0 and not loss.path_counts


def test_bad_arguments_raise_value_error(signals, tmp_path) -> None:
    x, t = signals
    loss = SCRAPLLoss(**CFG)
    for bad in (14, -1, [0, 99], 1.5):
        with pytest.raises(ValueError, match="path_idx"):
            loss(x, t, path_idx=bad)
    torch.save(torch.full((14,), 0.1, dtype=torch.double), tmp_path / "bad.pt")
    with pytest.raises(ValueError, match="sum to 1"):
        loss.load_probs(str(tmp_path / "bad.pt"))
    torch.save(torch.full((5,), 0.2, dtype=torch.double), tmp_path / "short.pt")
    with pytest.raises(ValueError, match="shape"):
        loss.load_probs(str(tmp_path / "short.pt"))
    with pytest.raises(FileNotFoundError, match="probs_path"):
        loss.load_probs(str(tmp_path / "missing.pt"))
    for kwargs, name in (
        ({"paths_per_step": 0}, "paths_per_step"), ({"eval_paths": "some"}, "eval_paths"),
        ({"min_prob_frac": 1.0}, "min_prob_frac"), ({"n_theta": 0}, "n_theta"),
        ({"use_rho_log1p": False, "grad_mult": 1.0}, "grad_mult"), ({"saga_denominator": "x"}, "saga"),
    ):
        with pytest.raises(ValueError, match=name):
            SCRAPLLoss(**{**CFG, **kwargs})


def test_k_paths_share_the_mean_of_single_path_distances(signals) -> None:
    x, t = signals
    loss = SCRAPLLoss(**CFG, paths_per_step=3, sampling_seed=5)
    value = loss(x, t)
    paths = loss.curr_path_indices
    assert len(set(paths)) == 3 and loss.curr_path_idx == paths[0]
    singles = [loss.calc_dist(x, t, p)[0] for p in paths]
    torch.testing.assert_close(value, torch.stack(singles).mean())
    assert dict(loss.path_counts) == {p: 1 for p in paths} and loss.scrapl_t == 1


def test_target_branch_gradient_only_when_requested(signals) -> None:
    x, t = signals
    loss = SCRAPLLoss(**CFG)
    xr = x.clone().requires_grad_(True)
    value = loss(xr, t, path_idx=7)
    value.backward()
    tr_ = t.clone().requires_grad_(True)
    xr2 = x.clone().requires_grad_(True)
    value2 = loss(xr2, tr_, path_idx=7)
    value2.backward()
    torch.testing.assert_close(value, value2)
    torch.testing.assert_close(xr.grad, xr2.grad)
    assert tr_.grad is not None and tr_.grad.abs().sum() > 0
    # Swapping the arguments swaps the roles: d/dt of L(x, t) equals d/dx of L(t, x).
    t3 = t.clone().requires_grad_(True)
    loss(t3, x, path_idx=7).backward()
    torch.testing.assert_close(t3.grad, tr_.grad)


def test_eval_mode_is_deterministic_and_leaves_state(signals) -> None:
    x, t = signals
    loss = SCRAPLLoss(**CFG, eval_paths=4, sample_all_paths_first=True)
    loss(x, t, seed=1)
    before = (dict(loss.path_counts), list(loss.unsampled_paths), loss.scrapl_t, loss.curr_path_idx)
    loss.eval()
    assert loss.eval_path_indices == [0, 4, 9, 13]
    v1, v2 = loss(x, t), loss(x, t)
    assert v1.item() == v2.item()
    expected = torch.stack([loss.calc_dist(x, t, p)[0] for p in loss.eval_path_indices]).mean()
    torch.testing.assert_close(v1, expected)
    assert (dict(loss.path_counts), list(loss.unsampled_paths), loss.scrapl_t, loss.curr_path_idx) == before
    assert SCRAPLLoss(**CFG, eval_paths="all").eval_path_indices == list(range(14))
    assert SCRAPLLoss(**CFG, eval_paths=[3, 1, 3]).eval_path_indices == [1, 3]


def test_sampling_seed_gives_step_seeded_reproducible_paths(signals) -> None:
    x, t = signals

    def run(base: int, global_seed: int) -> list[list[int]]:
        torch.manual_seed(global_seed)
        loss = SCRAPLLoss(**CFG, sampling_seed=base, paths_per_step=2)
        out = []
        with torch.no_grad():
            for _ in range(12):
                loss(x, t)
                out.append(loss.curr_path_indices)
        return out

    a = run(3, 0)
    assert a == run(3, 1)  # independent of the global RNG
    assert a != run(4, 0)
    assert len({p for pair in a for p in pair}) > 7  # consecutive steps are not correlated


def test_state_dict_round_trip_continues_sampling(signals) -> None:
    x, t = signals
    loss = SCRAPLLoss(**CFG, sample_all_paths_first=True)
    torch.manual_seed(0)
    with torch.no_grad():
        for _ in range(5):
            loss(x, t)
    loss.update_prob(2, 3.0)
    loss.update_prob(9, 1.0)
    sd = loss.state_dict()
    assert not any(k.startswith("jtfs") for k in sd)
    assert all(isinstance(v, torch.Tensor | type(None)) for v in sd.values())
    fresh = SCRAPLLoss(**CFG, sample_all_paths_first=True)
    fresh.load_state_dict(sd)
    for key in ("path_counts", "unsampled_paths", "probs", "all_log_vals", "all_log_probs", "scrapl_t"):
        assert torch.equal(fresh.state_dict()[key], sd[key]), key
    torch.manual_seed(1)
    with torch.no_grad():
        seq_a = [(loss(x, t), loss.curr_path_idx)[1] for _ in range(12)]
    torch.manual_seed(1)
    with torch.no_grad():
        seq_b = [(fresh(x, t), fresh.curr_path_idx)[1] for _ in range(12)]
    assert seq_a == seq_b


def test_optimizer_side_transform_equals_hooks(signals) -> None:
    _, t = signals
    z = torch.randn(2, 8, generator=torch.Generator().manual_seed(1))
    weights = []
    for hooks in (True, False):
        torch.manual_seed(0)
        net = torch.nn.Linear(8, N)
        loss = SCRAPLLoss(**CFG, sampling_seed=0)
        loss.attach_params(net.parameters(), hooks=hooks)
        opt = torch.optim.SGD(net.parameters(), lr=1e-3)
        for _ in range(6):
            opt.zero_grad()
            loss(net(z).unsqueeze(1), t).backward()
            if not hooks:
                loss.transform_grads()
            opt.step()
        weights.append(net.weight.detach().clone())
        with pytest.raises(ValueError, match="transform_grads"):
            if hooks:
                loss.transform_grads()
            else:
                loss.attach_params([])
                loss.transform_grads()
    torch.testing.assert_close(weights[0], weights[1], rtol=0, atol=1e-7)


def test_path_dists_are_per_path_per_example_calc_dists(signals) -> None:
    """path_dists (P', B): row p, column b = calc_dist of example b alone on path p; no counters move."""
    x, t = signals
    loss = SCRAPLLoss(**CFG)
    paths = [0, 5, 13]
    d = loss.path_dists(x, t, paths)
    assert d.shape == (3, 2)
    assert loss.scrapl_t == 0 and not loss.path_counts
    for i, p in enumerate(paths):
        for b in range(2):
            ref, _, _ = loss.calc_dist(x[b : b + 1], t[b : b + 1], p)
            torch.testing.assert_close(d[i, b], ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(d.mean(), loss(x, t, path_idx=paths), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="path_idx"):
        loss.path_dists(x, t, [14])


def test_path_dists_of_stacked_candidates_equal_one_call_each(signals) -> None:
    """K candidates (K, B, C, N) against one target: (K, P', B), row k = path_dists of candidate k."""
    x, t = signals
    loss = SCRAPLLoss(**CFG)
    stacked = torch.stack([x, 0.5 * x, t.flip(0)])
    d = loss.path_dists(stacked, t, range(14))
    assert d.shape == (3, 14, 2)
    for k in range(3):
        torch.testing.assert_close(d[k], loss.path_dists(stacked[k], t, range(14)), rtol=1e-6, atol=0)
    with pytest.raises(ValueError, match="shapes differ"):
        loss.path_dists(stacked[:, :1], t, [0])
