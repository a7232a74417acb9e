"""ONNX export round trips: torch → ONNX → onnxruntime parity, ONNX → torch reversal, cards, broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import synths
from scrapl_live.cli import main
from scrapl_live.encoder import (
    Encoder,
    OnnxEncoder,
    encoder_checkpoint,
    encoder_config,
    encoder_from_checkpoint,
    export_onnx,
    load_card,
    onnx_to_torch,
)
from scrapl_live.encoder.card import file_sha256
from tests.encoder.signals import chirp, hit

torch.set_num_threads(1)
W = 2048


def _randomised(enc: Encoder, seed: int) -> Encoder:
    """Perturb every weight (so that no two tensors share values, as after training).

    The scale stays near trained weights: a much larger one (0.2) makes an ill-conditioned net in which
    fp32 summation order alone (torch vs onnxruntime conv) moves θ̂ by ~1e-4.
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in enc.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    return enc.eval()


def _tr808_hits(n: int) -> torch.Tensor:
    """Real inputs: the first W samples of tr808 renders (onset at 0), (n, W)."""
    voice = synths.get("tr808", pre_delay=0, max_shift=0)
    with torch.no_grad():
        theta = torch.rand(n, 14, generator=torch.Generator().manual_seed(1))
        return voice(theta, torch.arange(n))[:, 0, :W]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Encoder, Path]:
    enc = _randomised(Encoder(encoder_config("tr808", "live", W)), seed=0)
    path = tmp_path_factory.mktemp("models") / "tr808.onnx"
    card = {"training_data": "none (untrained test model)", "command": "pytest", "git_commit": "0" * 40}
    export_onnx(enc, path, card, inputs=_tr808_hits(4))
    return enc, path


def _copy(path: Path, dst: Path) -> Path:
    shutil.copy(path, dst / path.name)
    shutil.copy(path.with_suffix(".json"), dst / path.with_suffix(".json").name)
    return dst / path.name


@pytest.mark.parametrize("name", ["tr808", "granular"])
def test_shipped_models_match_their_torch_checkpoints(name: str) -> None:
    """The shipped ONNX encoders and their torch checkpoints agree on real renders of their synth, at
    every window their card lists."""
    root = Path(__file__).resolve().parents[2] / "models"
    enc, card = encoder_from_checkpoint(root / f"{name}.pt")
    runtime = OnnxEncoder(root / f"{name}.onnx", threads=1)
    voice = synths.get(name, **card.get("synth_options", {}))
    gen = torch.Generator().manual_seed(5)
    with torch.no_grad():
        audio = voice(voice.random_theta(4, seed=5), torch.arange(4))[:, 0, : runtime.window]
        audio = torch.cat([audio, 0.1 * torch.randn(2, runtime.window, generator=gen)])
    assert all(enc.config.accepts(n) for n in runtime.windows)  # served windows: within the trained range
    for n in runtime.windows:
        with torch.no_grad():
            expected = enc.eval()(audio[:, :n]).numpy()
        assert np.abs(runtime(audio[:, :n].numpy()) - expected).max() <= 1e-4, n


def test_onnxruntime_matches_torch_on_random_and_real_audio(exported) -> None:
    enc, path = exported
    runtime = OnnxEncoder(path, threads=1)
    sr = 44100
    real = torch.cat([_tr808_hits(6), torch.from_numpy(np.stack([hit(sr, W), chirp(sr, W, 40.0, 8000.0)]))])
    noise = torch.randn(5, W, generator=torch.Generator().manual_seed(2))
    for audio in (real, noise, 1e-3 * noise):
        with torch.no_grad():
            expected = enc(audio).numpy()
        got = runtime(audio.numpy(), sample_rate=sr)
        assert got.shape == (len(audio), 14) and got.dtype == np.float32
        assert np.abs(got - expected).max() <= 1e-4
    single = runtime(real[0].numpy().astype(np.float64))
    assert single.shape == (14,)
    assert np.abs(single - enc(real[:1]).detach().numpy()[0]).max() <= 1e-4


def test_onnx_to_torch_restores_weights_and_outputs(exported) -> None:
    enc, path = exported
    back = onnx_to_torch(path)
    assert back.config == enc.config
    for key, value in enc.state_dict().items():
        assert torch.equal(back.state_dict()[key], value), key
    x = _tr808_hits(3)
    with torch.no_grad():
        torch.testing.assert_close(back(x), enc(x), rtol=0, atol=0)


def test_card_contents(exported) -> None:
    enc, path = exported
    card = load_card(path)
    assert card == json.loads(path.with_suffix(".json").read_text())
    assert (card["synth"], card["sample_rate"], card["window"], card["size"]) == ("tr808", 44100, W, "live")
    assert card["window_ms"] == pytest.approx(1000 * W / 44100, abs=1e-3)
    assert card["n_weights"] == enc.n_weights
    assert [p["name"] for p in card["params"]] == synths.get("tr808").param_names
    assert card["params"][0]["unit"] == "Hz"
    assert (card["command"], card["git_commit"]) == ("pytest", "0" * 40)
    assert card["onnx"]["sha256"] == file_sha256(path)
    assert card["onnx"]["bytes"] == path.stat().st_size < 1_000_000
    assert card["onnx"]["opset"] >= 17
    assert card["onnx"]["parity_max_abs"] <= 1e-4


def test_broken_or_mismatched_files_are_rejected(exported, tmp_path) -> None:
    _, src = exported
    # Truncated ONNX whose card hash was updated: the ONNX parsers must reject it.
    path = _copy(src, tmp_path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    card = json.loads(path.with_suffix(".json").read_text())
    card["onnx"]["sha256"] = file_sha256(path)
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="onnxruntime cannot load"):
        OnnxEncoder(path)
    with pytest.raises(ValueError, match="not a readable ONNX"):
        onnx_to_torch(path)
    # Bytes changed behind the card's back.
    path = _copy(src, tmp_path)
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="SHA-256"):
        OnnxEncoder(path)
    # A card describing another encoder (W = 1024) with a matching hash.
    path = _copy(src, tmp_path)
    card = json.loads(path.with_suffix(".json").read_text())
    card["window"] = card["encoder_config"]["window"] = card["encoder_config"]["cqt"]["max_kernel"] = 1024
    card["windows"] = card["encoder_config"]["windows"] = [1024]
    path.with_suffix(".json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="1024"):
        OnnxEncoder(path)
    with pytest.raises(ValueError, match="front-end"):
        onnx_to_torch(path)
    # Card missing, not JSON, or not a card.
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(ValueError, match="JSON"):
        load_card(path)
    path.with_suffix(".json").write_text("{}")
    with pytest.raises(ValueError, match="card"):
        OnnxEncoder(path)
    path.with_suffix(".json").unlink()
    with pytest.raises(FileNotFoundError):
        OnnxEncoder(path)


def test_runtime_input_validation(exported) -> None:
    runtime = OnnxEncoder(exported[1])
    with pytest.raises(ValueError, match="shape"):
        runtime(np.zeros(W + 1, np.float32))
    with pytest.raises(ValueError, match="shape"):
        runtime(np.zeros((0, W), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        runtime(np.full(W, np.nan, np.float32))
    with pytest.raises(ValueError, match="floating"):
        runtime(np.zeros(W, np.int16))
    with pytest.raises(ValueError, match="sample_rate"):
        runtime(np.zeros(W, np.float32), sample_rate=48000)
    with pytest.raises(ValueError, match="threads"):
        OnnxEncoder(exported[1], threads=0)


def test_export_rejects_contradicting_card(tmp_path) -> None:
    enc = Encoder(encoder_config("tr808", "live", 1024))
    with pytest.raises(ValueError, match="window"):
        export_onnx(enc, tmp_path / "x.onnx", {"window": 2048})
    with pytest.raises(ValueError, match="params"):
        export_onnx(enc, tmp_path / "x.onnx", {"params": [{"name": "a"}]})
    with pytest.raises(ValueError, match="JSON"):
        export_onnx(enc, tmp_path / "x.onnx", {"metrics": {"loss": torch.tensor(1.0)}})
    with pytest.raises(ValueError, match=".onnx"):
        export_onnx(enc, tmp_path / "x.pt")


def test_cli_checkpoint_export_info_reverse(tmp_path, capsys) -> None:
    """Checkpoint → `scrapl-live export` → `encoder-info --to-checkpoint` → same weights (granular preset)."""
    enc = _randomised(Encoder(encoder_config("granular", "live")), seed=3)
    ckpt = tmp_path / "run.pt"
    torch.save(encoder_checkpoint(enc, {"metrics": {"theta_l1_permille": 123.0}}), ckpt)
    model = tmp_path / "models" / "granular.onnx"
    assert main(["export", str(ckpt), "-o", str(model)]) == 0
    assert model.is_file() and model.with_suffix(".json").is_file()
    back_ckpt = tmp_path / "back.pt"
    assert main(["encoder-info", str(model), "--to-checkpoint", str(back_ckpt)]) == 0
    out = capsys.readouterr().out
    assert "granular encoder" in out and "32768 samples at 8192 Hz" in out and "density, slope" in out
    back, card = encoder_from_checkpoint(back_ckpt)
    assert card["metrics"] == {"theta_l1_permille": 123.0} and card["checkpoint"] == str(ckpt)
    x = torch.from_numpy(np.stack([chirp(8192, 32768, 110.0, 3000.0), hit(8192, 32768)]))
    with torch.no_grad():
        torch.testing.assert_close(back(x), enc(x), rtol=0, atol=0)
    assert np.abs(OnnxEncoder(model)(x.numpy()) - enc(x).detach().numpy()).max() <= 1e-4
    assert main(["export", str(tmp_path / "missing.pt"), "-o", str(model)]) == 1


@pytest.mark.slow
@pytest.mark.parametrize("synth,window", [("tr808", 2048), ("granular", None)])
def test_paper_size_exports_under_5_mb(synth: str, window: int | None, tmp_path) -> None:
    enc = _randomised(Encoder(encoder_config(synth, "paper", window)), seed=4)
    card = export_onnx(enc, tmp_path / f"{synth}.onnx")
    assert card["onnx"]["bytes"] <= 5_000_000
    assert card["onnx"]["parity_max_abs"] <= 1e-4
