"""``scrapl-live finetune add``: files → hits from their onsets / segments (+ θ̂ from an ONNX encoder) →
capture store; the background writer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrapl_live.audio import load_audio, save_audio
from scrapl_live.cli import main
from scrapl_live.finetune.store import CaptureStore

SR = 44100
ONSETS_S = (0.3, 0.8, 1.25, 1.9)


def _bursts(seed: int = 0) -> np.ndarray:
    """Decaying noise bursts at ONSETS_S over -70 dBFS noise, 2.5 s at SR."""
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(int(2.5 * SR)) * 10 ** (-70 / 20)).astype(np.float32)
    env = np.exp(-np.arange(int(0.2 * SR)) / (0.03 * SR))
    for t in ONSETS_S:
        i = int(t * SR)
        x[i : i + env.size] += (0.5 * rng.standard_normal(env.size) * env).astype(np.float32)
    return x


def _expected_lengths(starts: list[int], n: int, length: int) -> list[int]:
    """Each hit from its onset for ``length`` samples, cut at the next onset or the end of the audio."""
    return [min(length, e - s) for s, e in zip(starts, [*starts[1:], n], strict=True)]


def test_add_hits_from_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    wav = save_audio(tmp_path / "take.wav", _bursts(), SR)
    x, _ = load_audio(wav, SR)  # as stored in the file
    store_dir = tmp_path / "store"
    assert main(["finetune", "add", str(wav), "--store", str(store_dir), "--length-s", "0.55"]) == 0
    assert "4 hits found, 4 stored" in capsys.readouterr().out
    samples = list(CaptureStore(store_dir).samples())
    assert len(samples) == 4
    starts = [round(s.meta["start_s"] * SR) for s in samples]
    lengths = _expected_lengths(starts, x.size, int(0.55 * SR))
    # 0.3 → cut at the onset 0.8; 0.8 → 0.45 s to 1.25; 1.25 and 1.9 → the full 0.55 s
    np.testing.assert_allclose(np.array(lengths) / SR, [0.5, 0.45, 0.55, 0.55], atol=0.01)
    for s, t, start, n in zip(samples, ONSETS_S, starts, lengths, strict=True):
        assert s.sample_rate == SR and s.theta is None and abs(s.meta["start_s"] - t) < 0.005
        assert s.meta["mode"] == "hits" and s.meta["source"] == str(wav.resolve())
        assert s.meta["length"] == int(0.55 * SR) and s.meta["window"] == 2048
        np.testing.assert_array_equal(s.audio, x[start : start + n])  # the take itself, from the onset
    # the same file again: every hit is an exact duplicate
    assert main(["finetune", "add", str(wav), "--store", str(store_dir), "--length-s", "0.55"]) == 0
    assert "0 stored, 4 skipped" in capsys.readouterr().out
    assert len(CaptureStore(store_dir)) == 4


def test_add_windows_skips_silence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    x = _bursts()
    x[int(1.0 * SR):] = 0.0  # bursts at 0.3 and 0.8 s, then digital silence
    wav = save_audio(tmp_path / "w.wav", x, SR)
    assert main(["finetune", "add", str(wav), "--store", str(tmp_path / "s"), "--mode", "windows",
                 "--length-s", "0.5"]) == 0
    # windows [0, .5) [.5, 1) [1, 1.5) [1.5, 2) [2, 2.5): the first two hold the bursts, the rest is silent
    assert "5 windows found, 2 stored, 3 skipped" in capsys.readouterr().out
    starts = [s.meta["start_s"] for s in CaptureStore(tmp_path / "s").samples()]
    assert starts == [0.0, 0.5]


def test_add_with_model_stores_encoder_predictions(tmp_path: Path) -> None:
    import torch

    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config
    from scrapl_live.encoder.runtime import OnnxEncoder

    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = tmp_path / "tr808.onnx"
    export_onnx(Encoder(encoder_config("tr808", "live")), model)
    enc = OnnxEncoder(model)
    wav = save_audio(tmp_path / "take.wav", _bursts(1), SR)
    assert main(["finetune", "add", str(wav), "--store", str(tmp_path / "s"), "--model", str(model)]) == 0
    samples = list(CaptureStore(tmp_path / "s").samples())
    assert len(samples) == 4
    x, _ = load_audio(wav, SR)
    starts = [round(s.meta["start_s"] * SR) for s in samples]
    # the synth's output length (1 s for tr808) from each onset, cut at the next one
    for s, start, n in zip(samples, starts, _expected_lengths(starts, x.size, SR), strict=True):
        assert s.sample_rate == enc.sample_rate and s.meta["length"] == SR and s.meta["window"] == enc.window
        assert s.meta["synth"] == "tr808" and s.meta["model"] == str(model)
        np.testing.assert_array_equal(s.audio, x[start : start + n])
        np.testing.assert_allclose(s.theta, np.clip(enc(s.audio[: enc.window]), 0, 1), atol=1e-6)  # θ̂ of W


def test_add_one_shots_batch_stores_every_file_and_reports_each(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    """One-shots whose attack is their first sample (no onset to detect), silence, a corrupt file and a
    missing one in one batch: every file is processed, each gets its line, the one-shots are stored from
    sample 0; exit 1 because two files could not be read. Without those, exit 0; all silent: exit 1."""
    rng = np.random.default_rng(3)
    env = np.exp(-np.arange(int(0.4 * SR)) / (0.05 * SR))
    shots = []
    for i in range(3):
        x = (0.6 * rng.standard_normal(env.size) * env).astype(np.float32)
        x[0] = 0.9  # the attack at sample 0
        shots.append(save_audio(tmp_path / f"kick{i}.wav", x, SR))
    silent = save_audio(tmp_path / "silent.wav", np.zeros(SR // 2, np.float32), SR)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    missing = tmp_path / "missing.wav"
    store_dir = tmp_path / "s"
    argv = ["finetune", "add", *map(str, [shots[0], silent, bad, missing, shots[1], shots[2]]),
            "--store", str(store_dir)]
    assert main(argv) == 1
    lines = capsys.readouterr().out.splitlines()
    for shot in shots:
        assert f"{shot}: 1 of 1 stored (the first from sample 0)" in lines
    assert f"{silent}: 0 of 1 stored, 1 silent" in lines
    assert any(line.startswith("not read:") and str(bad) in line for line in lines)
    assert any(line.startswith("not read:") and f"not found: {missing}" in line for line in lines)
    assert lines[-1].startswith("6 file(s): 4 hits found, 3 stored, 1 skipped, 2 unreadable")
    samples = list(CaptureStore(store_dir).samples())
    assert len(samples) == 3 and all(s.meta["start_s"] == 0.0 for s in samples)
    stored = sorted(s.audio.tobytes() for s in samples)
    assert stored == sorted(load_audio(p, SR)[0].tobytes() for p in shots)  # each whole one-shot, from 0
    assert main(["finetune", "add", *map(str, shots), "--store", str(store_dir)]) == 0  # already stored
    assert "0 of 1 stored, 1 already in the store" in capsys.readouterr().out
    assert main(["finetune", "add", str(silent), "--store", str(store_dir)]) == 1  # nothing usable


def test_missing_file_and_bad_arguments(tmp_path: Path) -> None:
    assert main(["finetune", "add", str(tmp_path / "nope.wav"), "--store", str(tmp_path / "s")]) == 1
    wav = save_audio(tmp_path / "w.wav", _bursts(), SR)
    assert main(["finetune", "add", str(wav), "--store", str(tmp_path / "s"), "--max-mb", "-1"]) == 1
    assert main(["finetune", "add", str(wav), "--store", str(tmp_path / "s"), "--window-s", "0"]) == 1
    assert main(["finetune", "add", str(wav), "--store", str(tmp_path / "s"), "--length-s", "0"]) == 1


def test_background_capture_counts_and_stores(tmp_path: Path) -> None:
    from scrapl_live.finetune.live_capture import BackgroundCapture

    rng = np.random.default_rng(0)
    hits = [(0.1 * rng.standard_normal(2048)).astype(np.float32) for _ in range(10)]
    cap = BackgroundCapture(CaptureStore(tmp_path / "s", max_bytes=None), max_pending=64)
    for i, h in enumerate(hits):
        assert cap.submit(h, 48000, np.full(3, i / 10, np.float32), {"i": i})
        h[:] = 0.0  # the caller may reuse its buffer at once: submit copied it
    cap.submit(np.zeros(2048, np.float32), 48000)  # silence
    cap.submit(np.array([np.nan] * 4, np.float32), 48000)  # invalid: logged, counted, no crash
    cap.close()
    assert (cap.stored, cap.skipped, cap.errors, cap.dropped) == (10, 1, 1, 0)
    got = list(CaptureStore(tmp_path / "s").samples())
    assert [s.meta["i"] for s in got] == list(range(10))
    assert all(np.abs(s.audio).max() > 0 for s in got)


def test_background_capture_drops_when_full(tmp_path: Path) -> None:
    import threading

    from scrapl_live.finetune.live_capture import BackgroundCapture

    release = threading.Event()

    class SlowStore(CaptureStore):  # a disk that stalls until released
        def add(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            release.wait()
            return super().add(*args, **kwargs)

    cap = BackgroundCapture(SlowStore(tmp_path / "s", max_bytes=None), max_pending=1)
    rng = np.random.default_rng(1)
    accepted = sum(cap.submit((0.1 * rng.standard_normal(512)).astype(np.float32), 48000) for _ in range(50))
    release.set()
    cap.close()
    assert accepted in (1, 2)  # one in the queue, plus the one the writer may already hold
    assert cap.dropped == 50 - accepted
    assert cap.stored == accepted == len(CaptureStore(tmp_path / "s"))


def test_live_capture_cuts_at_a_late_reported_onset_and_flushes_on_close(tmp_path: Path) -> None:
    """LiveCapture alone, fed block by block: hit 2 starts 100 samples before hit 1's span ends and is
    reported W + 50 samples after its onset (as the engine does) — hit 1 is still cut at it; hit 3, still
    being heard at close(), is stored up to the last fed sample."""
    from scrapl_live.finetune.live_capture import BackgroundCapture, LiveCapture

    sr, block, window, length = 8000, 64, 256, 4000
    rng = np.random.default_rng(2)
    x = (0.2 * rng.standard_normal(3 * length)).astype(np.float32)
    cap = LiveCapture(BackgroundCapture(CaptureStore(tmp_path / "s", max_bytes=None)), sr, window, length)
    onsets = [500, 500 + length - 100, 9000]
    report = {o + window + 50: o for o in onsets}  # when each hit is reported
    n_fed = 10_240
    for t0 in range(0, n_fed, block):
        cap.feed(x[t0 : t0 + block], t0)
        for t in [t for t in report if t0 <= t < t0 + block]:
            cap.hit(report.pop(t), np.full(2, 0.5, np.float32), {"start_s": 0.0})
    cap.close()
    got = sorted(CaptureStore(tmp_path / "s").samples(), key=lambda s: s.audio.size)
    expected = sorted([x[500 : onsets[1]], x[onsets[1] : onsets[1] + length], x[9000:n_fed]], key=len)
    assert [s.audio.size for s in got] == [len(e) for e in expected] == [1240, 3900, 4000]
    for s, e in zip(got, expected, strict=True):
        np.testing.assert_array_equal(s.audio, e)
        assert s.meta["window"] == window and s.meta["length"] == length and s.sample_rate == sr
