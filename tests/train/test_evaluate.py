"""eval: checkpoint and ONNX give the same report; θ L1 matches a direct computation; tr808 on a folder."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from scrapl_live.train.evaluate import evaluate_model, markdown_table, spread_indices, write_report


def _checkpoint(tmp_path, synth: str):
    from scrapl_live.encoder.encoder import Encoder, encoder_checkpoint
    from scrapl_live.encoder.presets import encoder_config
    from scrapl_live.train.config import TrainConfig

    torch.manual_seed(0)
    enc = Encoder(encoder_config(synth, "live")).eval()
    cfg = TrainConfig(synth=synth, loss="ploss", synthetic_items=16)
    path = tmp_path / f"{synth}.pt"
    torch.save(encoder_checkpoint(enc, {"training": {"config": cfg.to_dict()}}), path)
    return enc, path


@pytest.mark.slow
def test_granular_report_checkpoint_and_onnx_agree(tmp_path) -> None:
    import synths
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.train.datasets import GridDataset

    torch.set_num_threads(1)
    enc, ckpt = _checkpoint(tmp_path, "granular")
    report = evaluate_model(ckpt, "synthetic", "test", max_items=6, batch_size=4, jtfs=False)
    assert report["n_items"] == 6 and set(report["metrics"]) == {"mss_loglin", "theta_l1_permille"}
    # θ L1 ‰ equals a direct computation on 6 test-fold items spread over the fold
    ds = GridDataset("test")
    idx = spread_indices(len(ds), 6)
    assert idx[0] == 0 and idx[-1] == len(ds) - 1 and idx.unique().numel() == 6
    with torch.no_grad():
        x = synths.get("granular")(ds.theta[idx], ds.seed[idx])
        direct = (enc(x[:, 0]) - ds.theta[idx]).abs().mean(0) * 1000
    per = report["theta_l1_permille_per_param"]
    assert [per["density"], per["slope"]] == pytest.approx(direct.tolist(), rel=1e-4)
    onnx_path = tmp_path / "granular.onnx"
    card = json.loads(json.dumps(torch.load(ckpt, weights_only=True)["card"]))
    export_onnx(enc, onnx_path, card)
    via_onnx = evaluate_model(onnx_path, "synthetic", "test", max_items=6, batch_size=4, jtfs=False)
    for k, v in report["metrics"].items():
        assert via_onnx["metrics"][k] == pytest.approx(v, rel=1e-3, abs=1e-3), k
    json_path, md_path = write_report(report, tmp_path / "rep")
    assert json.loads(json_path.read_text())["n_items"] == 6
    assert "| theta_l1_permille |" in md_path.read_text() == markdown_table(report)


def test_tr808_folder_report_has_feature_metrics(tmp_path) -> None:
    torch.set_num_threads(1)
    _, ckpt = _checkpoint(tmp_path, "tr808")
    kit = tmp_path / "kit"
    kit.mkdir()
    t = np.arange(22050) / 44100
    for i, f in enumerate((60.0, 180.0, 400.0)):
        sf.write(
            str(kit / f"hit{i}.wav"), (np.sin(2 * np.pi * f * t) * np.exp(-t * 8)).astype(np.float32), 44100
        )
    report = evaluate_model(ckpt, str(kit), "all", max_items=10, batch_size=2, jtfs=False)
    assert report["n_items"] == 3 and "theta_l1_permille" not in report["metrics"]
    names = {f"{f}_{p}" for f in ("loudness", "centroid", "flatness") for p in ("transient", "decay")}
    assert names <= set(report["metrics"]) and all(np.isfinite(v) for v in report["metrics"].values())
    with pytest.raises(ValueError, match="split"):
        evaluate_model(ckpt, "synthetic", "all")


@pytest.mark.slow
def test_update_card_records_evaluation(tmp_path) -> None:
    from scrapl_live.encoder.card import load_card
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.train.evaluate import add_to_card

    torch.set_num_threads(1)
    enc, ckpt = _checkpoint(tmp_path, "tr808")
    onnx_path = tmp_path / "tr808.onnx"
    export_onnx(enc, onnx_path, torch.load(ckpt, weights_only=True)["card"])
    report = evaluate_model(onnx_path, "synthetic", "test", max_items=2, batch_size=2, jtfs=False)
    add_to_card(report, onnx_path)
    add_to_card(report, onnx_path)  # same data/split replaces, never duplicates
    card = load_card(onnx_path)  # still a valid card for the same ONNX file
    assert len(card["evaluation"]) == 1 and card["evaluation"][0]["n_items"] == 2
    assert card["synth_options"] == {"pre_delay": 0, "max_shift": 0}
