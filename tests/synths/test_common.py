"""Properties every synth must have: registry, determinism, gradients, dtypes, devices, input checks."""

import math

import pytest
import torch

import synths
from synths.base import ParamSpec

NAMES = ["chirplet", "granular", "tr808"]


@pytest.fixture(scope="module", params=NAMES)
def synth(request: pytest.FixtureRequest) -> synths.Synth:
    torch.set_num_threads(1)
    return synths.get(request.param)


def _grid(u: int) -> torch.Tensor:
    """θ rows covering both ends of every parameter, the middle and random interior points. (5, U) float64."""
    rand = torch.rand(2, u, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    return torch.cat([torch.zeros(1, u), torch.ones(1, u), torch.full((1, u), 0.5), rand]).double()


def test_registry() -> None:
    assert synths.names() == NAMES
    with pytest.raises(ValueError, match="unknown synth name 'moog'"):
        synths.get("moog")


def test_interface(synth: synths.Synth) -> None:
    assert synth.sample_rate > 0 and synth.n_samples > 0
    assert all(isinstance(p, ParamSpec) for p in synth.params) and len(synth.params) == synth.n_params
    y = synth(torch.rand(2, synth.n_params), torch.tensor([0, 1]))
    assert y.shape == (2, 1, synth.n_samples) and y.dtype == torch.float32


def test_deterministic_given_seeds(synth: synths.Synth) -> None:
    theta = torch.rand(3, synth.n_params, generator=torch.Generator().manual_seed(1))
    seed = torch.tensor([5, 6, 7])
    assert torch.equal(synth(theta, seed), synth(theta, seed))
    other = synth(theta, torch.tensor([8, 9, 10]))
    assert not torch.equal(synth(theta, seed), other)  # every synth draws something from its seeds


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradients_finite_and_nonzero_for_every_parameter(synth: synths.Synth, dtype: torch.dtype) -> None:
    theta = _grid(synth.n_params).to(dtype).requires_grad_(True)
    y = synth(theta, torch.arange(len(theta)))
    probe = torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(2))
    (y * probe).sum().backward()
    assert torch.isfinite(theta.grad).all()
    zero = (theta.grad == 0).nonzero().tolist()
    assert not zero, f"zero gradient at (row, param) {zero} of {synth.param_names}"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_dtypes_finite_and_consistent(synth: synths.Synth, dtype: torch.dtype) -> None:
    theta = _grid(synth.n_params)
    seed = torch.arange(len(theta))
    y = synth(theta.to(dtype), seed)
    assert y.dtype == dtype and torch.isfinite(y).all()
    ref = synth(theta, seed)  # float64
    assert (y.double() - ref).abs().max() < 1e-3 * ref.abs().max()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_cuda_matches_cpu(synth: synths.Synth) -> None:
    theta = _grid(synth.n_params)
    seed = torch.arange(len(theta))
    cpu = synth(theta, seed)
    gpu = synth(theta.cuda(), seed.cuda())
    assert gpu.device.type == "cuda"
    torch.testing.assert_close(gpu.cpu(), cpu, atol=1e-6, rtol=1e-5)
    theta_g = theta.cuda().requires_grad_(True)
    synth(theta_g, seed).pow(2).sum().backward()
    assert torch.isfinite(theta_g.grad).all()


@pytest.mark.parametrize(
    "theta_fn, seed_fn, match",
    [
        (lambda u: torch.full((2, u), 1.5), lambda: torch.tensor([0, 1]), "theta must lie in"),
        (lambda u: torch.full((2, u), -0.1), lambda: torch.tensor([0, 1]), "theta must lie in"),
        (lambda u: torch.full((2, u), math.nan), lambda: torch.tensor([0, 1]), "theta contains NaN"),
        (lambda u: torch.rand(2, u + 1), lambda: torch.tensor([0, 1]), "theta must have shape"),
        (lambda u: torch.rand(u), lambda: torch.tensor([0]), "theta must have shape"),
        (lambda u: torch.ones(2, u, dtype=torch.int64), lambda: torch.tensor([0, 1]), "theta must be float"),
        (lambda u: torch.rand(2, u), lambda: torch.tensor([0, 1, 2]), "seed must have shape"),
        (lambda u: torch.rand(2, u), lambda: torch.tensor([0.0, 1.0]), "seed must have an integer dtype"),
        (lambda u: torch.rand(2, u), lambda: [0, 1], "seed must be a torch.Tensor"),
    ],
)
def test_bad_input_names_the_argument(synth: synths.Synth, theta_fn, seed_fn, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synth(theta_fn(synth.n_params), seed_fn())


def test_bad_shift_shape(synth: synths.Synth) -> None:
    with pytest.raises(ValueError, match="shift must have shape"):
        synth(torch.rand(2, synth.n_params), torch.tensor([0, 1]), torch.tensor([0]))


def test_physical_round_trip_and_render(synth: synths.Synth) -> None:
    theta = _grid(synth.n_params)
    back = synth.to_theta({k: v for k, v in synth.to_physical(theta).items()})
    torch.testing.assert_close(back, theta.float(), atol=1e-6, rtol=0)
    for p in synth.params:
        assert p.to_physical(0.0) == pytest.approx(p.min) and p.to_physical(1.0) == pytest.approx(p.max)
    audio = synth.render(seed=3, **{synth.params[0].name: synth.params[0].default_value})
    assert audio.shape == (synth.n_samples,) and torch.isfinite(audio).all()
    with pytest.raises(ValueError, match="unknown parameter"):
        synth.render(volume=3.0)
    with pytest.raises(ValueError, match=synth.params[0].name):
        synth.render(**{synth.params[0].name: synth.params[0].max + 1.0})


def test_param_spec_validation() -> None:
    with pytest.raises(ValueError, match="log scale"):
        ParamSpec("f", "Hz", 0.0, 1.0, scale="log")
    with pytest.raises(ValueError, match="min must be < max"):
        ParamSpec("f", "Hz", 2.0, 1.0)
    spec = ParamSpec("f", "Hz", 20.0, 20000.0, scale="log")
    assert spec.to_physical(0.5) == pytest.approx(math.sqrt(20.0 * 20000.0))
    assert spec.to_unit(spec.to_physical(0.3)) == pytest.approx(0.3)


def test_gradients_match_finite_differences(synth: synths.Synth) -> None:
    """Autograd equals central differences of a fixed random projection of the output (float64)."""
    theta = torch.rand(2, synth.n_params, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    theta = (0.1 + 0.8 * theta).requires_grad_(True)
    seed = torch.tensor([1, 2])
    probe = torch.randn(
        2, 1, synth.n_samples, dtype=torch.float64, generator=torch.Generator().manual_seed(4)
    )
    assert torch.autograd.gradcheck(
        lambda t: (synth(t, seed) * probe).sum(), (theta,), eps=1e-7, atol=1e-4, rtol=1e-3
    )
