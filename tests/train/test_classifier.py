"""Drum-class head: front end against closed forms, deterministic training, augmentation, export →
onnxruntime round trip, and the train-classifier command on a small generated corpus."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from scrapl_live.live.classify import CLASSES, load_classifier
from scrapl_live.train.classifier import (
    FRAME,
    SAMPLE_RATE,
    DrumClassNet,
    balanced_accuracy,
    per_class_accuracy,
    predict,
    train_head,
)
from scrapl_live.train.classifier_cli import pick_window
from scrapl_live.train.classifier_data import augment, corpus_items, load_head

SR = SAMPLE_RATE


def kick(rng: np.random.Generator, n: int = 30000) -> np.ndarray:
    """Pitch-dropping low sine (≈ 150 → 50 Hz) with a long decay."""
    t = np.arange(n) / SR
    f = 50 + 100 * np.exp(-t / 0.03) * rng.uniform(0.8, 1.2)
    return (np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / 0.3)).astype(np.float32)


def hat(rng: np.random.Generator, n: int = 30000) -> np.ndarray:
    """High-passed noise burst (first difference of white noise), short decay."""
    t = np.arange(n) / SR
    noise = np.diff(rng.standard_normal(n + 1))
    return (noise * np.exp(-t / rng.uniform(0.02, 0.05)) * 0.5).astype(np.float32)


def test_body_view_puts_a_sine_in_its_band() -> None:
    net = DrumClassNet(1024)
    view = net.views[1]
    for k in (2, 6, 30):  # sines on bin centres of the 256-point frames
        f = k * SR / FRAME
        x = torch.from_numpy(np.sin(2 * np.pi * f * np.arange(1024) / SR).astype(np.float32))[None, None]
        energies = view(x).reshape(-1, view.bands.shape[1])  # (frames, bands)
        edges = np.geomspace(40.0, 20000.0, view.bands.shape[1] + 1)
        expected = int(np.searchsorted(edges, f, side="right") - 1)
        assert (energies.argmax(dim=1) == expected).all()


def test_window_shorter_than_a_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        DrumClassNet(FRAME - 1)


def _toy(rng: np.random.Generator, n: int, per: int = 12) -> tuple[np.ndarray, np.ndarray]:
    x = np.stack([kick(rng)[:n] for _ in range(per)] + [hat(rng)[:n] for _ in range(per)])
    y = np.array([CLASSES.index("kick")] * per + [CLASSES.index("closed_hat")] * per)
    return x, y


def test_training_is_deterministic_given_the_seed_and_learns_a_separable_pair() -> None:
    rng = np.random.default_rng(0)
    x, y = _toy(rng, 256)
    nets = []
    for seed in (0, 0, 1):
        torch.manual_seed(seed)
        net = DrumClassNet(256, hidden=16)
        train_head(net, x, y, seed=seed, epochs=30, batch=8)
        nets.append(net)
    same = [torch.equal(a, b) for a, b in zip(nets[0].state_dict().values(), nets[1].state_dict().values(),
                                               strict=True)]
    assert all(same)
    assert not torch.equal(nets[0].head[0].weight, nets[2].head[0].weight)
    fresh_x, fresh_y = _toy(np.random.default_rng(5), 256)
    pred = predict(nets[0], fresh_x).argmax(1)
    acc = per_class_accuracy(pred, fresh_y)
    assert acc["kick"] == 1.0 and acc["closed_hat"] == 1.0 and acc["snare"] is None
    assert balanced_accuracy(acc) == 1.0


def test_augment_keeps_labels_and_is_reproducible() -> None:
    rng = np.random.default_rng(0)
    heads = [kick(rng), hat(rng)]
    labels = np.array([0, 3])
    a, ya = augment(heads, labels, 512, 5, np.random.default_rng(7), SR)
    b, _ = augment(heads, labels, 512, 5, np.random.default_rng(7), SR)
    assert a.shape == (10, 512) and a.dtype == np.float32 and np.array_equal(a, b)
    assert list(ya) == [0] * 5 + [3] * 5
    assert np.all(np.isfinite(a)) and np.all(np.abs(a).max(axis=1) > 0.1)
    c, _ = augment(heads, labels, 512, 5, np.random.default_rng(8), SR)
    assert not np.array_equal(a, c)


def test_load_head_starts_at_the_attack(tmp_path: Path) -> None:
    x = np.concatenate([np.zeros(1000, np.float32), kick(np.random.default_rng(0))])
    sf.write(tmp_path / "k.wav", x, SR)
    head = load_head(tmp_path / "k.wav", SR, 2048)
    assert head.shape == (2048,)
    assert abs(head[0]) > 0 or abs(head[1]) > 0
    np.testing.assert_allclose(head, x[1000:3048], atol=1e-4)
    sf.write(tmp_path / "silent.wav", np.zeros(4000, np.float32), SR)
    assert load_head(tmp_path / "silent.wav", SR, 2048) is None


def test_pick_window_prefers_the_shortest_close_to_the_best() -> None:
    assert pick_window({256: 0.80, 512: 0.90, 1024: 0.91}) == 512
    assert pick_window({256: 0.95, 512: 0.90}) == 256
    assert pick_window({256: 0.5, 512: 0.9}, tolerance=0.0) == 512


def _corpus(root: Path) -> None:
    """Three kits (train, val, test) of kicks and closed hats, with a scrapl-live-drums style manifest."""
    rng = np.random.default_rng(3)
    files = []
    for kit, split in (("A", "train"), ("B", "train"), ("V", "val"), ("T", "test")):
        for i in range(4):
            for cls, make in (("kick", kick), ("closed_hat", hat)):
                path = f"src/{kit}/{cls}{i}.wav"
                (root / path).parent.mkdir(parents=True, exist_ok=True)
                sf.write(root / path, make(rng), SR)
                files.append({"path": path, "source": "src", "kit": kit, "instrument": cls, "class": cls,
                              "split": split})
    (root / "manifest.json").write_text(json.dumps({"format": "scrapl-live-drums/1", "files": files}))


def test_corpus_items_reads_class_split_and_moves_val_kits(tmp_path: Path) -> None:
    _corpus(tmp_path)
    items = corpus_items(tmp_path)
    assert {(i.kit, i.split) for i in items} == {("src/A", "train"), ("src/B", "train"), ("src/V", "val"),
                                                 ("src/T", "test")}
    moved = corpus_items(tmp_path, val_kits=("B",))
    assert {i.split for i in moved if i.kit == "src/B"} == {"val"}


def test_train_classifier_command_exports_a_working_head(tmp_path: Path) -> None:
    from scrapl_live.cli import main

    _corpus(tmp_path)
    out = tmp_path / "m" / "head.onnx"
    report = tmp_path / "report.json"
    rc = main(["train-classifier", "--data", str(tmp_path), "-o", str(out), "--windows", "256", "512",
               "--copies", "3", "--epochs", "15", "--report", str(report)])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["classes"] == list(CLASSES) and card["window"] in (256, 512)
    assert card["training"]["test_kits"] == ["src/T"] and card["training"]["val_kits"] == ["src/V"]
    assert set(json.loads(report.read_text())["windows"]) == {"256", "512"}
    clf = load_classifier(out)
    assert clf.window == card["window"] and clf.sample_rate == SR
    rng = np.random.default_rng(11)
    for make, cls in ((kick, "kick"), (hat, "closed_hat")):
        x = make(rng)
        label, confidence = clf.classify(x[: clf.window], SR)
        assert label == cls and 0.5 < confidence <= 1.0
        probs = clf.probabilities(x, SR)
        assert probs.shape == (len(CLASSES),) and abs(float(probs.sum()) - 1) < 1e-5
        # the same hit at another engine rate: resampled to the head's rate first
        from scrapl_live.audio import resample

        assert clf.classify(resample(x, SR, 48000)[: clf.window_at(48000)], 48000)[0] == cls
    # onnxruntime agrees with the torch network it was exported from
    assert card["onnx"]["parity_max_abs"] < 1e-4


def test_a_tampered_or_missing_head_is_refused(tmp_path: Path) -> None:
    from scrapl_live.cli import main

    _corpus(tmp_path)
    out = tmp_path / "head.onnx"
    assert main(["train-classifier", "--data", str(tmp_path), "-o", str(out), "--windows", "256",
                 "--copies", "1", "--epochs", "1"]) == 0
    with pytest.raises(FileNotFoundError, match="classifier not found"):
        load_classifier(tmp_path / "nope.onnx")
    out.write_bytes(out.read_bytes() + b"\0")
    with pytest.raises(ValueError, match="SHA-256"):
        load_classifier(out)


def test_train_classifier_rejects_bad_arguments(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from scrapl_live.cli import main

    _corpus(tmp_path)
    assert main(["train-classifier", "--data", str(tmp_path), "-o", str(tmp_path / "x.pt")]) == 1
    assert "-o/--output must end in .onnx" in capsys.readouterr().err
    assert main(["train-classifier", "--data", str(tmp_path), "--windows", "128"]) == 1
    assert "--windows must be >= 256" in capsys.readouterr().err
    assert main(["train-classifier", "--data", str(tmp_path / "none")]) == 1
    assert "no manifest.json" in capsys.readouterr().err
