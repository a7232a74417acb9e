"""Drum-class head: front end against closed forms, deterministic training, the ensemble and the bank of
windows, augmentation, export → onnxruntime round trip, and the train-classifier command on a small
generated corpus."""

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
    MIN_WINDOW,
    SAMPLE_RATE,
    DrumClassBank,
    DrumClassNet,
    balanced_accuracy,
    per_class_accuracy,
    predict,
    train_head,
)
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


def test_peak_view_peakiness_of_a_sine_is_its_closed_form() -> None:
    """A sine on a bin centre puts powers 1/4, 1/16, 1/16 (relative) in three bins under the Hann
    window: in a band of m bins holding all three, strongest bin / mean = (1/4) / ((3/8) / m) = 2m/3."""
    n = 2048
    view = DrumClassNet(n).views[3]
    k = 500  # bin of a 2048-point rfft: 10.77 kHz
    x = torch.from_numpy(np.sin(2 * np.pi * k * np.arange(n) / n).astype(np.float32))[None, None]
    n_bands = view.bands.shape[1]
    mean_db, peakiness = view(x)[0].split(n_bands)
    band = int(view.bands[k].argmax())
    assert view.bands[k - 1 : k + 2, band].sum() == 3  # all three lobe bins in the band
    assert int(mean_db.argmax()) == band
    m = float(view.bands[:, band].sum())
    assert float(peakiness[band]) == pytest.approx(np.log(2 * m / 3), abs=1e-3)
    noise = torch.from_numpy(np.random.default_rng(0).standard_normal(n).astype(np.float32))[None, None]
    assert float(view(noise)[0, n_bands + band]) < float(peakiness[band]) - 1.0  # noise is not peaky


def test_window_shorter_than_the_minimum_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        DrumClassNet(MIN_WINDOW - 1)
    with pytest.raises(ValueError, match="members"):
        DrumClassNet(256, members=0)


def test_a_head_reads_only_its_window_and_averages_its_members() -> None:
    torch.manual_seed(0)
    net = DrumClassNet(MIN_WINDOW, hidden=8, members=3).eval()
    x = torch.randn(4, 2048)
    y = x.clone()
    y[:, MIN_WINDOW:] = torch.randn(4, 2048 - MIN_WINDOW)  # different beyond the window
    with torch.no_grad():
        torch.testing.assert_close(net(x), net(y))
        members = torch.stack([torch.softmax(h(net.features(x)), -1) for h in net.heads])
        torch.testing.assert_close(net(x), members.mean(0))
        assert not torch.allclose(members[0], members[1])
        torch.testing.assert_close(net(x).sum(-1), torch.ones(4))


def test_round_to_half_rounds_large_tensors_only() -> None:
    from scrapl_live.train.classifier import HALF_MIN_SIZE, round_to_half

    net = DrumClassNet(256, hidden=64)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    round_to_half(net)
    for k, v in net.state_dict().items():
        if v.is_floating_point() and v.numel() >= HALF_MIN_SIZE:
            torch.testing.assert_close(v, before[k].half().float(), rtol=0, atol=0)
            assert not torch.equal(v, before[k]) or k.endswith("bands")  # 0/1 matrices are exact
        else:
            assert torch.equal(v, before[k])


def test_the_bank_answers_each_head_on_its_own_window() -> None:
    torch.manual_seed(0)
    heads = [DrumClassNet(w, hidden=8).eval() for w in (1024, 128, 256)]
    bank = DrumClassBank(heads).eval()
    assert bank.windows == (128, 256, 1024) and bank.window == 1024
    x = torch.randn(2, 1024)
    with torch.no_grad():
        out = bank(x)
        assert out.shape == (2, 3, len(CLASSES))
        for k, w in enumerate(bank.windows):
            solo = next(h for h in heads if h.window == w)
            torch.testing.assert_close(out[:, k], solo(x[:, :w]))
    with pytest.raises(ValueError, match="one head per window"):
        DrumClassBank([DrumClassNet(256), DrumClassNet(256)])


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
    assert not torch.equal(nets[0].heads[0][0].weight, nets[2].heads[0][0].weight)
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


def test_train_classifier_command_exports_a_working_bank(tmp_path: Path) -> None:
    from scrapl_live.cli import main

    _corpus(tmp_path)
    out = tmp_path / "m" / "head.onnx"
    report = tmp_path / "report.json"
    rc = main(["train-classifier", "--data", str(tmp_path), "-o", str(out), "--windows", "128", "512",
               "--copies", "3", "--epochs", "15", "--report", str(report)])
    assert rc == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["classes"] == list(CLASSES) and card["windows"] == [128, 512] and card["window"] == 512
    assert card["training"]["test_kits"] == ["src/T"] and card["training"]["val_kits"] == ["src/V"]
    assert set(card["by_window"]) == {"128", "512"} and card["training"]["members"] == 3
    assert set(json.loads(report.read_text())["windows"]) == {"128", "512"}
    clf = load_classifier(out)
    assert clf.windows == (128, 512) and clf.window == 512 and clf.min_window == 128
    assert clf.sample_rate == SR
    rng = np.random.default_rng(11)
    for make, cls in ((kick, "kick"), (hat, "closed_hat")):
        x = make(rng)
        for n in (128, 300, 512):
            label, confidence = clf.classify(x[:n], SR)
            assert label == cls and 0.5 < confidence <= 1.0
        probs = clf.probabilities(x, SR)
        assert probs.shape == (len(CLASSES),) and abs(float(probs.sum()) - 1) < 1e-5
        # fewer than 512 samples heard: the 128 head answers, from its first 128 samples only
        np.testing.assert_allclose(clf.probabilities(x[:511], SR), clf.probabilities(x[:128], SR), atol=1e-6)
        assert not np.allclose(clf.probabilities(x[:512], SR), clf.probabilities(x[:128], SR))
        # the same hit at another engine rate: resampled to the head's rate first
        from scrapl_live.audio import resample

        assert clf.classify(resample(x, SR, 48000)[: clf.window_at(48000)], 48000)[0] == cls
        assert clf.classify(resample(x, SR, 48000)[: clf.window_at(48000, 128)], 48000)[0] == cls
    # onnxruntime agrees with the torch network it was exported from
    assert card["onnx"]["parity_max_abs"] < 1e-4


def _tone(rng: np.random.Generator, n: int = 30000) -> np.ndarray:
    """A steady 1 kHz tone with a slow decay (a class the base corpus lacks)."""
    t = np.arange(n) / SR
    return (np.sin(2 * np.pi * rng.uniform(900, 1100) * t) * np.exp(-t / 0.5) * 0.5).astype(np.float32)


def test_long_data_trains_the_longest_head_only(tmp_path: Path) -> None:
    """A corpus given with --long-data (tones labelled snare) is learnt by the longest head alone: it
    calls a tone a snare, the shorter head, which never saw one, does not."""
    from scrapl_live.cli import main

    _corpus(tmp_path / "base")
    rng = np.random.default_rng(5)
    extra, files = tmp_path / "extra", []
    for i in range(8):
        path = f"tones/K/tone{i}.wav"
        (extra / path).parent.mkdir(parents=True, exist_ok=True)
        sf.write(extra / path, _tone(rng), SR)
        files.append({"path": path, "source": "tones", "kit": "K", "instrument": "snare", "class": "snare",
                      "split": "train"})
    (extra / "manifest.json").write_text(json.dumps({"format": "scrapl-live-drums/1", "files": files}))
    out = tmp_path / "head.onnx"
    assert main(["train-classifier", "--data", str(tmp_path / "base"), "--long-data", str(extra),
                 "-o", str(out), "--windows", "128", "512", "--copies", "3", "--epochs", "15"]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert card["training"]["long_data"] == [str(extra)]
    clf = load_classifier(out)
    x = _tone(np.random.default_rng(9))
    assert clf.classify(x[:512], SR)[0] == "snare"
    assert clf.classify(x[:128], SR)[0] != "snare"
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.json").write_text(json.dumps({"format": "scrapl-live-drums/1", "files": []}))
    assert main(["train-classifier", "--data", str(tmp_path / "base"), "--long-data", str(empty), "-o",
                 str(out), "--windows", "128", "512"]) == 1  # fmt: skip


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
    assert main(["train-classifier", "--data", str(tmp_path), "--windows", "64"]) == 1
    assert "--windows must be >= 128" in capsys.readouterr().err
    assert main(["train-classifier", "--data", str(tmp_path), "--windows", "256", "256"]) == 1
    assert "--windows must be different" in capsys.readouterr().err
    assert main(["train-classifier", "--data", str(tmp_path), "--eq-db", "-1"]) == 1
    assert "--eq-db must be in 0..24" in capsys.readouterr().err
    assert main(["train-classifier", "--data", str(tmp_path / "none")]) == 1
    assert "no manifest.json" in capsys.readouterr().err


def test_random_eq_gain_at_1khz_is_the_bell_alone_and_bounded() -> None:
    from scrapl_live.train.classifier_data import random_eq

    n = 4096
    sine = np.sin(2 * np.pi * 1000.0 * np.arange(n) / SR).astype(np.float32)
    x = np.tile(sine, (200, 1))
    assert random_eq(x, np.random.default_rng(0), SR, 0.0) is x
    y = random_eq(x, np.random.default_rng(0), SR, 6.0)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_array_equal(y, random_eq(x, np.random.default_rng(0), SR, 6.0))
    mid = slice(1024, 3072)  # away from the window's edges
    gain_db = 20 * np.log10(np.sqrt(np.mean(y[:, mid] ** 2, 1)) / np.sqrt(np.mean(x[:, mid] ** 2, 1)))
    # at 1 kHz the tilt term is 0: the gain is the bell's, within ±6 dB, and it varies from copy to copy
    assert np.all(np.abs(gain_db) <= 6.0 + 0.1) and gain_db.std() > 1.0
