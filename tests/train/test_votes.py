"""Descent votes: closed forms on a synth whose loss landscape is known, the values rule, and a
training run that starts from the vote warm-up."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest
import torch

from scrapl_live.loss import SCRAPLLoss
from scrapl_live.train.checkpoint import load_checkpoint
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.votes import VOTE_FLOOR, agreement, descent_votes, vote_values, vote_warmup

N = 1024
CFG = dict(shape=N, J=4, Q1=2, Q2=1, J_fr=2, Q_fr=1, use_rho_log1p=False, use_p_adam=False, use_p_saga=False)


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)


def _gain_synth(theta: torch.Tensor, seed: torch.Tensor) -> torch.Tensor:
    """θ_0 scales a fixed noise (a grain seed-independent sound); θ_1 is ignored."""
    noise = torch.randn(1, 1, N, generator=torch.Generator().manual_seed(7))
    return theta[:, :1, None] * noise


def test_votes_of_a_gain_and_an_ignored_parameter() -> None:
    """JTFS without log is positively homogeneous, so every path's distance is |θ̂_0 − θ_0|·‖S_p n‖:
    all paths vote right for θ_0 on every valid item; for the ignored θ_1 the distance does not move,
    so no path votes right; items within ``step`` of the truth are not valid."""
    loss = SCRAPLLoss(**CFG, n_theta=2)
    theta = torch.tensor([[0.9, 0.2], [0.1, 0.5], [0.5, 0.52]])
    theta_hat = torch.tensor([[0.3, 0.8], [0.6, 0.1], [0.47, 0.5]])
    x = _gain_synth(theta, torch.zeros(3))
    seeds = torch.zeros(3, dtype=torch.long)
    votes, valid = descent_votes(loss, _gain_synth, x, theta, theta_hat, seeds, 0.05)
    assert votes.shape == (loss.n_paths, 3, 2)
    assert valid.tolist() == [[True, True], [True, True], [False, False]]
    assert bool(votes[:, :2, 0].all()) and not bool(votes[..., 1].any())
    share = agreement(votes, valid)
    assert share[:, 0].eq(1).all() and share[:, 1].eq(0).all()
    with pytest.raises(ValueError, match="no path votes right"):
        vote_values(share)
    with pytest.raises(ValueError, match="same batch"):
        descent_votes(loss, _gain_synth, x[:2], theta, theta_hat, seeds)


def test_vote_probabilities_are_normalised_drifts_mixed_with_the_floor() -> None:
    """Values are the drifts max(2a − 1, 0); the loss turns them into per-θ normalised drifts with its
    ``min_prob_frac`` of the mass spread evenly, averaged over θ (closed form on all P paths)."""
    loss = SCRAPLLoss(**CFG, n_theta=2, min_prob_frac=0.2)
    n = loss.n_paths
    share = torch.linspace(0.3, 0.95, 2 * n, dtype=torch.float64).reshape(2, n).T.contiguous()
    share[::3, 1] = 0.45  # every third path votes wrong for θ_1
    drift = (2 * share - 1).clamp(min=0)
    vals = vote_values(share)
    torch.testing.assert_close(torch.stack([vals[p] for p in range(n)]), drift)
    loss.set_path_values(vals)
    expected = (0.8 * drift / drift.sum(0) + 0.2 / n).mean(1)
    torch.testing.assert_close(loss.probs.double(), expected, rtol=1e-6, atol=1e-9)
    with pytest.raises(ValueError, match="no valid vote"):
        vote_values(torch.tensor([[0.9, float("nan")]]))
    with pytest.raises(ValueError, match="vote_is"):
        TrainConfig(loss="scrapl", vote_is=True, theta_is=True)


def test_vote_warmup_caches_resumes_and_runs_without_a_cache(tmp_path) -> None:
    """The cached votes are reused (a warm-up that is asked again computes nothing), and a warm-up
    without a cache (the non-zero ranks of a multi-process run) gives the same agreement and writes
    nothing."""
    loss = SCRAPLLoss(**CFG, n_theta=2)
    theta = torch.tensor([[0.9, 0.2], [0.1, 0.5], [0.8, 0.7], [0.3, 0.05]])
    calls = []

    def targets(b: int) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(b)
        th = theta[2 * b : 2 * b + 2]
        return _gain_synth(th, torch.zeros(2)), th

    share = vote_warmup(loss, _gain_synth, targets, 2, tmp_path / "votes", seed=3)
    assert calls == [0, 1]
    written = sorted(f.name for f in (tmp_path / "votes").iterdir())
    assert written == ["agreement.pt", "votes_0.pt", "votes_1.pt"]
    assert share[:, 0].eq(1).all()  # the gain: every path votes right (closed form above)
    again = vote_warmup(loss, _gain_synth, targets, 2, tmp_path / "votes", seed=3)
    assert calls == [0, 1]
    torch.testing.assert_close(again, share, equal_nan=True)
    bare = vote_warmup(loss, _gain_synth, targets, 2, None, seed=3)
    assert calls == [0, 1, 0, 1]
    torch.testing.assert_close(bare, share, equal_nan=True)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["votes"]


@pytest.mark.slow
@pytest.mark.parametrize("ranks", [1, 2])
def test_training_starts_from_the_vote_probabilities(tmp_path, ranks: int) -> None:
    """A granular run with --vote-is: its SCRAPL state holds the probabilities of the saved agreement.
    With two gloo ranks both compute the same votes (the trainer raises if their paths differ) and
    only rank 0 writes the cache."""
    out = tmp_path / "run"
    launch = [sys.executable, "-m"]
    if ranks > 1:
        if shutil.which("torchrun") is None:
            pytest.skip("torchrun is not installed")
        launch = ["torchrun", "--standalone", "--nproc-per-node", str(ranks), "-m"]
    cmd = [*launch, "scrapl_live.cli", "train", "--synth", "granular", "--loss", "scrapl",
           "--batch-size", "2", "--lr", "1e-3", "--max-steps", "1", "--val-items", "2", "--vote-is",
           "--vote-is-items", "2", "--out-dir", str(out)]
    subprocess.run(cmd, check=True, capture_output=True, timeout=900)
    share = torch.load(out / "vote_is" / "agreement.pt", weights_only=True)
    assert share.shape == (315, 2) and bool(((share >= 0) & (share <= 1)).all())
    drift = (2 * share - 1).clamp(min=0)
    expected = ((1 - VOTE_FLOOR) * drift / drift.sum(0) + VOTE_FLOOR / 315).mean(1)
    probs = load_checkpoint(out / "last.pt")["loss_state"]["probs"]
    torch.testing.assert_close(probs, expected, rtol=1e-9, atol=0)
    assert (out / "vote_is" / "votes_0.pt").is_file()
