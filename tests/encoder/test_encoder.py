"""Encoder architecture: exact paper parameter counts, live size budget, windows, input validation."""

from __future__ import annotations

import pytest
import torch

import synths
from scrapl_live.encoder import Encoder, EncoderConfig, encoder_config
from scrapl_live.encoder.cnn import effective_pools
from scrapl_live.encoder.encoder import encoder_checkpoint, encoder_from_checkpoint

torch.set_num_threads(1)


def _closed_form_weights(channels: int, latent: int, n_outputs: int, blocks: int = 5) -> int:
    """Count of the paper's Spectral2DCNN: convs 3×3 (+bias), one PReLU slope per block, projection
    Linear+PReLU, and per head Linear(latent, latent/2)+PReLU+Linear(latent/2, 1)."""
    convs = (9 * channels + channels) + (blocks - 1) * (9 * channels * channels + channels) + blocks
    proj = channels * latent + latent + 1
    head = latent * (latent // 2) + latent // 2 + 1 + latent // 2 + 1
    return convs + proj + n_outputs * head


@pytest.mark.parametrize(
    "synth,expected,tensors", [("granular", 604_106, 28), ("chirplet", 604_106, 28), ("tr808", 724_642, 88)]
)
def test_paper_size_has_the_papers_parameter_count(synth: str, expected: int, tensors: int) -> None:
    enc = Encoder(encoder_config(synth, "paper"))
    cfg = enc.config.cnn
    assert enc.n_weights == expected == _closed_form_weights(128, cfg.latent, cfg.n_outputs)
    assert len(list(enc.parameters())) == tensors
    assert (cfg.latent, cfg.dropout) == ((64, 0.5) if synth != "tr808" else (128, 0.25))


@pytest.mark.parametrize("synth", synths.names())
def test_live_size_budget_and_param_names(synth: str) -> None:
    enc = Encoder(encoder_config(synth, "live"))
    assert enc.n_weights <= 150_000
    assert enc.n_weights == _closed_form_weights(
        enc.config.cnn.channels, enc.config.cnn.latent, enc.config.cnn.n_outputs
    )
    assert list(enc.config.param_names) == synths.get(synth).param_names


@pytest.mark.parametrize("window", [512, 1024, 2048, 44100])
def test_tr808_windows_give_theta_in_unit_interval(window: int) -> None:
    enc = Encoder(encoder_config("tr808", "live", window)).eval()
    assert enc.config.n_frames == window // 256 + 1
    voice = synths.get("tr808", pre_delay=0, max_shift=0)
    with torch.no_grad():
        audio = voice(torch.rand(3, 14, generator=torch.Generator().manual_seed(0)), torch.arange(3))
        theta = enc(audio[..., :window])
    assert theta.shape == (3, 14)
    assert torch.all((theta > 0) & (theta < 1))


def test_effective_pools_clamp_short_axes() -> None:
    paper = ((2, 2), (2, 2), (2, 3), (3, 3), (3, 3))
    assert effective_pools(paper, 108, 173) == paper  # full 1 s: the paper's pools, 1×1 at the end
    assert effective_pools(paper, 108, 9) == ((2, 2), (2, 2), (2, 2), (3, 1), (3, 1))
    assert effective_pools(paper, 108, 3) == ((2, 2), (2, 1), (2, 1), (3, 1), (3, 1))


def test_config_round_trip_and_checkpoint(tmp_path) -> None:
    cfg = encoder_config("granular", "live")
    assert EncoderConfig.from_dict(cfg.to_dict()) == cfg
    enc = Encoder(cfg)
    path = tmp_path / "ckpt.pt"
    torch.save({**encoder_checkpoint(enc, {"metrics": {"theta_l1": 0.1}}), "optimizer": {}}, path)
    back, card = encoder_from_checkpoint(path)
    assert card == {"metrics": {"theta_l1": 0.1}}
    x = torch.randn(2, cfg.window)
    with torch.no_grad():
        torch.testing.assert_close(back(x), enc.eval()(x), rtol=0, atol=0)


def test_bad_input_raises_value_error(tmp_path) -> None:
    enc = Encoder(encoder_config("tr808", "live", 1024))
    with pytest.raises(ValueError, match="shape"):
        enc(torch.zeros(2, 2048))
    with pytest.raises(ValueError, match="mono"):
        enc(torch.zeros(2, 2, 1024))
    with pytest.raises(ValueError, match="floating"):
        enc(torch.zeros(2, 1024, dtype=torch.int32))
    with pytest.raises(ValueError, match="NaN"):
        enc(torch.full((1, 1024), float("nan")))
    with pytest.raises(ValueError, match="synth"):
        encoder_config("moog")
    with pytest.raises(ValueError, match="size"):
        encoder_config("tr808", "huge")
    with pytest.raises(ValueError, match="window"):
        encoder_config("tr808", "live", 100)
    with pytest.raises(ValueError, match="param_names"):
        encoder_config("tr808", "live", param_names=("a", "b"))
    with pytest.raises(ValueError, match="encoder_config"):
        EncoderConfig.from_dict({"synth": "tr808"})
    with pytest.raises(FileNotFoundError):
        encoder_from_checkpoint(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    torch.save({"state_dict": {}}, bad)
    with pytest.raises(ValueError, match="encoder_config"):
        encoder_from_checkpoint(bad)
