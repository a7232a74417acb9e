"""Baseline losses against auraloss / librosa / the reference's kymatio fork, plus basic properties."""

from __future__ import annotations

import auraloss
import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from scrapl_live.loss.baselines import make_loss, names
from tests.reference import reference_root, run_reference


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def _signals(n: int = 4096, b: int = 2, c: int = 1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    t = torch.arange(n) / 8000
    f = 200 + 800 * torch.rand(b, c, 1, generator=gen)
    x = torch.sin(2 * torch.pi * f * t) + 0.1 * torch.randn(b, c, n, generator=gen)
    y = torch.sin(2 * torch.pi * 1.1 * f * t) * torch.hann_window(n)
    y = y + 0.1 * torch.randn(b, c, n, generator=gen)
    return x, y


FFTS = [64, 128, 256, 512, 1024, 2048]


@pytest.mark.parametrize(("name", "w_log"), [("mss-lin", 0.0), ("mss-loglin", 1.0)])
def test_mss_equals_auraloss(name: str, w_log: float) -> None:
    x, y = _signals(c=2)
    peer = auraloss.freq.MultiResolutionSTFTLoss(
        fft_sizes=FFTS, hop_sizes=[n // 4 for n in FFTS], win_lengths=FFTS, w_sc=0.0, w_log_mag=w_log,
        w_lin_mag=1.0,
    )
    torch.testing.assert_close(make_loss(name)(x, y), peer(x, y), rtol=1e-5, atol=1e-7)


def test_mss_rev_equals_librosa_computation() -> None:
    x, y = _signals()
    wins, hops = [67, 127, 257, 509, 1021, 2053], [33, 63, 128, 254, 510, 1026]
    expected = np.zeros(x.shape[0])
    for w, h in zip(wins, hops, strict=True):
        window = scipy.signal.windows.flattop(w, sym=False)
        for b in range(x.shape[0]):
            sx, sy = (np.abs(librosa.stft(s[b, 0].double().numpy(), n_fft=w, hop_length=h, window=window,
                                          center=True, pad_mode="reflect")) for s in (x, y))
            expected[b] += np.linalg.norm(np.log1p(sy) - np.log1p(sx))
    assert make_loss("mss-rev")(x, y).item() == pytest.approx(expected.mean(), rel=1e-4)


def test_mss_rand_is_seeded_and_equals_auraloss_terms() -> None:
    x, y = _signals(n=20000)
    a, b = make_loss("mss-rand", seed=3), make_loss("mss-rand", seed=3)
    vals_a = [a(x, y) for _ in range(3)]
    state = a.state_dict()
    assert int(state["n_calls"]) == 3
    b.load_state_dict(state)
    next_a, next_b = a(x, y), b(x, y)
    torch.testing.assert_close(next_a, next_b)
    assert len({v.item() for v in vals_a}) == 3  # resolutions change per call
    window_names = {"hann": "hann_window", "bartlett": "bartlett_window", "blackman": "blackman_window",
                    "hamming": "hamming_window", "kaiser": "kaiser_window"}
    peers = [auraloss.freq.STFTLoss(f, h, w, window_names[name]) for f, h, w, name in a.last_resolutions]
    expected = sum(p(x, y) for p in peers) / len(peers)
    torch.testing.assert_close(next_a, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["mss-lin", "mss-loglin", "mss-rev", "mss-rand"])
def test_zero_for_identical_positive_and_differentiable(name: str) -> None:
    x, y = _signals(n=20000)
    loss = make_loss(name)
    assert loss(y, y.clone()).item() == pytest.approx(0.0, abs=1e-6)
    xg = x.clone().requires_grad_(True)
    val = loss(xg, y)
    val.backward()
    assert val.item() > 0
    assert xg.grad is not None and bool(torch.isfinite(xg.grad).all()) and xg.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["mss-lin", "mss-rev", "mss-rand"])
def test_wrong_inputs_raise_value_error(name: str) -> None:
    loss = make_loss(name)
    x, y = _signals(n=20000)
    with pytest.raises(ValueError, match="x"):
        loss(x[0], y[0])
    with pytest.raises(ValueError, match="shape"):
        loss(x, y[..., :-1])
    bad = x.clone()
    bad[0, 0, 5] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        loss(bad, y)
    with pytest.raises(ValueError, match="samples"):
        loss(x[..., :100], y[..., :100])


def test_ploss_closed_form_and_errors() -> None:
    gen = torch.Generator().manual_seed(0)
    th, tt = torch.rand(8, 3, generator=gen), torch.rand(8, 3, generator=gen)
    assert make_loss("ploss")(th, tt).item() == pytest.approx((th - tt).abs().mean().item())
    assert make_loss("ploss", kind="mse")(th, tt).item() == pytest.approx(((th - tt) ** 2).mean().item())
    with pytest.raises(ValueError, match="shapes differ"):
        make_loss("ploss")(th, tt[:, :2])
    with pytest.raises(ValueError, match="theta_hat"):
        make_loss("ploss")(th[0], tt[0])
    with pytest.raises(ValueError, match="kind"):
        make_loss("ploss", kind="huber")


def test_registry_names_and_unknown() -> None:
    assert names() == ["jtfs", "mss-lin", "mss-loglin", "mss-rev", "mss-rand", "ploss"]
    with pytest.raises(ValueError, match="unknown loss name"):
        make_loss("mss-foo")
    with pytest.raises(ValueError, match="mss-rev"):
        make_loss("mss-rev", nonsense=1)


TOY = {"shape": 256, "J": 3, "Q1": 1, "Q2": 1, "J_fr": 2, "Q_fr": 1}


@pytest.mark.skipif(reference_root() is None, reason="scrapl-loss (test extra) not installed")
def test_jtfs_loss_equals_reference_kymatio_fork() -> None:
    """JTFSTLoss of the reference experiments, computed with the kymatio fork that scrapl-loss vendors."""
    x, y = _signals(n=256, b=3, seed=2)
    code = """
    from kymatio.scattering1d.frontend.torch_frontend import TimeFrequencyScatteringTorch
    c = inputs["cfg"]
    jtfs = TimeFrequencyScatteringTorch(shape=(c["shape"],), J=c["J"], Q=(c["Q1"], c["Q2"]), Q_fr=c["Q_fr"],
                                   J_fr=c["J_fr"], format="joint")
    out = {}
    for log1p in (False, True):
        sx, sy = jtfs(inputs["x"].view(-1, 1, c["shape"])), jtfs(inputs["y"].view(-1, 1, c["shape"]))
        if log1p:
            sx, sy = torch.log1p(sx / 1e-3), torch.log1p(sy / 1e-3)
        out[log1p] = torch.linalg.vector_norm(sy - sx, ord=2, dim=(-2, -1)).mean()
    outputs.update(out)
    """
    ref = run_reference(code, {"cfg": TOY, "x": x, "y": y}, threads=1)
    for log1p in (False, True):
        ours = make_loss("jtfs", **TOY, use_rho_log1p=log1p)(x, y)
        torch.testing.assert_close(ours.double(), ref[log1p].double(), rtol=1e-4, atol=1e-7)


def test_jtfs_loss_properties() -> None:
    x, y = _signals(n=256, b=2, seed=4)
    loss = make_loss("jtfs", **TOY)
    assert loss(y, y.clone()).item() == pytest.approx(0.0, abs=1e-7)
    xg = x.clone().requires_grad_(True)
    val = loss(xg, y)
    val.backward()
    assert val.item() > 0 and bool(torch.isfinite(xg.grad).all()) and xg.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="shape"):
        make_loss("jtfs", **TOY)(x[..., :128], y[..., :128])
