"""Multi-window encoders: one network for every window of progressive prediction, exported as one ONNX
graph that takes any length between the first and the last listed window; cards, runtime, live model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

import synths
from scrapl_live.cli import main
from scrapl_live.encoder import Encoder, OnnxEncoder, encoder_config, export_onnx, onnx_to_torch
from scrapl_live.encoder.card import card_windows, file_sha256
from scrapl_live.encoder.encoder import encoder_checkpoint
from scrapl_live.encoder.export import serve_windows
from scrapl_live.encoder.presets import EncoderConfig
from scrapl_live.live.model import load_model

torch.set_num_threads(1)
WINDOWS = (128, 512, 2048)


def _hits(n: int, length: int) -> torch.Tensor:
    """The first ``length`` samples of n tr808 renders (onset at sample 0), (n, length)."""
    voice = synths.get("tr808", pre_delay=0, max_shift=0)
    with torch.no_grad():
        theta = torch.rand(n, 14, generator=torch.Generator().manual_seed(3))
        return voice(theta, torch.arange(n))[:, 0, :length]


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[Encoder, Path]:
    torch.manual_seed(0)
    enc = Encoder(encoder_config("tr808", "live", windows=WINDOWS))
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # away from the initialisation, as after training
        for p in enc.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=gen))
    path = tmp_path_factory.mktemp("models") / "multi.onnx"
    export_onnx(enc.eval(), path, {"command": "pytest"}, inputs=_hits(3, WINDOWS[-1]))
    return enc, path


def _copy(src: Path, dst_dir: Path) -> Path:
    dst = dst_dir / src.name
    shutil.copy(src, dst)
    shutil.copy(src.with_suffix(".json"), dst.with_suffix(".json"))
    return dst


def test_config_round_trip_and_lengths() -> None:
    cfg = encoder_config("tr808", "live", windows=WINDOWS)
    assert cfg.window == 2048 and cfg.windows == WINDOWS and cfg.multi_window
    assert cfg.cqt.pad_mode == "constant" and cfg.cnn.ceil_mode and cfg.cqt.max_kernel == 2048
    assert EncoderConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    assert [cfg.accepts(n) for n in (127, 128, 1000, 2048, 2049)] == [False, True, True, True, False]
    single = encoder_config("tr808", "live", 1024)
    assert single.windows == (1024,) and not single.multi_window
    assert [single.accepts(n) for n in (512, 1024)] == [False, True]
    # a config dict written before multi-window encoders (no 'windows', no 'ceil_mode') still loads
    old = single.to_dict()
    del old["windows"], old["cnn"]["ceil_mode"]
    assert EncoderConfig.from_dict(old) == single
    for bad in ((512, 128), (128, 128), (32, 2048)):
        with pytest.raises(ValueError, match="windows"):
            encoder_config("tr808", "live", windows=bad)
    with pytest.raises(ValueError, match="window=4096"):
        encoder_config("tr808", "live", 4096, windows=WINDOWS)


def test_torch_forward_takes_any_length_in_range() -> None:
    torch.manual_seed(0)
    enc = Encoder(encoder_config("tr808", "live", windows=WINDOWS)).eval()
    x = _hits(2, 2048)
    with torch.no_grad():
        outs = [enc(x[:, :n]) for n in (128, 300, 2048)]
    assert all(o.shape == (2, 14) and bool(((o > 0) & (o < 1)).all()) for o in outs)
    assert not torch.allclose(outs[0], outs[2])  # the longer window sees more of the hit
    with pytest.raises(ValueError, match="128 <= N <= 2048"):
        enc(x[:, :100])


def test_export_round_trip_every_window(exported: tuple[Encoder, Path]) -> None:
    enc, path = exported
    card = json.loads(path.with_suffix(".json").read_text())
    assert card["windows"] == list(WINDOWS) and card["any_window"] is True and card["window"] == 2048
    assert card["onnx"]["input_shape"] == ["batch", "samples"] and card["onnx"]["parity_max_abs"] <= 1e-4
    runtime = OnnxEncoder(path)
    assert runtime.windows == WINDOWS and runtime.any_window
    x = _hits(3, 2048)
    for n in (*WINDOWS, 700):  # the listed windows and a length between them
        with torch.no_grad():
            expected = enc(x[:, :n]).numpy()
        np.testing.assert_allclose(runtime(x[:, :n].numpy()), expected, atol=1e-5)
    restored = onnx_to_torch(path)
    assert restored.config == enc.config
    for key, value in enc.state_dict().items():
        assert torch.equal(restored.state_dict()[key], value), key
    for n in (100, 4096):
        with pytest.raises(ValueError, match="128 to 2048 samples"):
            runtime(np.zeros(n, np.float32))


def test_single_window_card_lists_its_window(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = tmp_path / "single.onnx"
    card = export_onnx(Encoder(encoder_config("tr808", "live", 512)).eval(), path)
    assert card["windows"] == [512] and card["any_window"] is False and card["onnx"]["input_shape"] == [
        "batch", 512]
    model = load_model(path)
    assert model.windows == (512,) and not model.any_window and model.takes(512) and not model.takes(256)
    # a card written before the windows keys: windows = (window,)
    legacy = json.loads(path.with_suffix(".json").read_text())
    del legacy["windows"], legacy["any_window"]
    assert card_windows(legacy) == ((512,), False)


def test_loaded_model_windows_api(exported: tuple[Encoder, Path]) -> None:
    enc, path = exported
    model = load_model(path)
    assert model.windows == WINDOWS and model.any_window and model.window == WINDOWS[-1]
    runtime = OnnxEncoder(path)
    x = _hits(1, 2048)[0].numpy()
    for n in (*WINDOWS, 1000):
        theta = model.infer(x[:n])
        assert theta.shape == (14,) and theta.dtype == np.float32
        np.testing.assert_allclose(theta, np.clip(runtime(x[:n]), 0, 1), atol=1e-6)
    with pytest.raises(ValueError, match=r"takes \[128, 512, 2048\] samples \(or any length between\)"):
        model.infer(x[:64])
    with pytest.raises(ValueError, match="shape"):
        model.infer(x[None, :512])


def _rewrite_card(path: Path, **changes) -> None:
    card = json.loads(path.with_suffix(".json").read_text())
    card.update(changes)
    path.with_suffix(".json").write_text(json.dumps(card))


def test_bad_model_files_give_one_line_errors(exported: tuple[Encoder, Path], tmp_path: Path) -> None:
    _, src = exported
    cases = {
        "windows' .* must ascend": dict(windows=[2048, 512]),
        "windows' .* end at window=2048": dict(windows=[128, 512]),
        "list of sample counts": dict(windows="all"),
        "any_window' must be true or false": dict(any_window="yes"),
    }
    for message, changes in cases.items():
        path = _copy(src, tmp_path)
        _rewrite_card(path, **changes)
        with pytest.raises(ValueError, match=message) as info:
            load_model(path)
        assert "\n" not in str(info.value)
    # a variable-length graph whose card claims a single fixed window
    path = _copy(src, tmp_path)
    _rewrite_card(path, windows=[2048], any_window=False)
    with pytest.raises(ValueError, match=r"takes inputs of any length but its card says windows") as info:
        load_model(path)
    assert "\n" not in str(info.value)
    # a truncated graph (hash updated so the card still matches): onnxruntime cannot load it
    path = _copy(src, tmp_path)
    path.write_bytes(path.read_bytes()[:1000])
    _rewrite_card(path, onnx={**json.loads(src.with_suffix(".json").read_text())["onnx"],
                              "sha256": file_sha256(path)})
    with pytest.raises(ValueError, match="cannot load") as info:
        load_model(path)
    assert "\n" not in str(info.value).strip()


def test_serving_fewer_windows_keeps_the_network(exported: tuple[Encoder, Path], tmp_path: Path) -> None:
    enc, _ = exported
    served = serve_windows(enc, (128, 512))
    assert served.config.windows == (128, 512) and served.config.window == 512
    assert served.config.cqt == enc.config.cqt and served.config.cnn == enc.config.cnn
    x = _hits(2, 512)
    with torch.no_grad():
        for n in (128, 300, 512):
            assert torch.equal(served(x[:, :n]), enc(x[:, :n]))
    for bad in ((64, 512), (128, 4096), (512,), (512, 128)):
        with pytest.raises(ValueError, match="trained range"):
            serve_windows(enc, bad)
    with pytest.raises(ValueError, match="single-window"):
        serve_windows(Encoder(encoder_config("tr808", "live", 1024)), (512, 1024))
    # the export command: its card lists the served windows, and a bad list is a one-line error
    ckpt = tmp_path / "multi.pt"
    torch.save(encoder_checkpoint(enc, {"command": "pytest"}), ckpt)
    out = tmp_path / "served.onnx"
    assert main(["export", str(ckpt), "-o", str(out), "--windows", "128,512"]) == 0
    assert OnnxEncoder(out).windows == (128, 512)
    assert main(["export", str(ckpt), "-o", str(out), "--windows", "128,99999"]) != 0
