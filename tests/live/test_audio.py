"""The audio-file helper: formats, rates, stereo, and every kind of bad file → a clear error."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from pedalboard.io import AudioFile

from scrapl_live.audio import load_audio, save_audio


def _tone(sr: int, seconds: float = 0.5, channels: int = 2) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    left = 0.4 * np.sin(2 * np.pi * 440 * t)
    return np.stack([left, 0.5 * left][:channels]).astype(np.float32)


@pytest.mark.parametrize("ext", ["wav", "flac", "ogg", "mp3"])
def test_formats_stereo_any_rate_to_mono_at_target_rate(tmp_path: Path, ext: str) -> None:
    sr_in, sr_out = 22050, 48000
    x = _tone(sr_in)
    path = tmp_path / f"t.{ext}"
    with AudioFile(str(path), "w", sr_in, 2) as f:
        f.write(x)
    y, sr = load_audio(path, sample_rate=sr_out)
    assert sr == sr_out and y.ndim == 1
    assert abs(y.size - x.shape[1] * sr_out / sr_in) < 0.02 * y.size + 2400  # MP3 adds codec padding
    # mono mix-down = mean of channels: RMS 0.75·0.4/√2 for the tone
    expected = 0.75 * 0.4 / np.sqrt(2)
    assert np.sqrt(np.mean(y[2400:-2400] ** 2)) == pytest.approx(expected, rel=0.05)


def test_wav_round_trip_exact_rate(tmp_path: Path) -> None:
    x = _tone(44100, channels=1)[0]
    save_audio(tmp_path / "a.wav", x, 44100)
    y, sr = load_audio(tmp_path / "a.wav")
    assert sr == 44100
    np.testing.assert_allclose(y, x, atol=2**-22)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="nope.wav"):
        load_audio(tmp_path / "nope.wav")


def test_corrupt_and_truncated_files_name_the_file(tmp_path: Path) -> None:
    good = tmp_path / "good.wav"
    sf.write(good, _tone(44100).T, 44100)
    data = good.read_bytes()
    cases = {
        "junk.wav": b"RIFF\x00\x00\x00\x00WAVEnot really audio" * 3,
        "trunc.wav": data[: len(data) // 2],
        "header_only.wav": data[:40],
        "junk.mp3": b"hello" * 200,
    }
    flac = tmp_path / "good.flac"
    sf.write(flac, _tone(44100).T, 44100)
    cases["trunc.flac"] = flac.read_bytes()[: flac.stat().st_size // 2]
    for name, blob in cases.items():
        p = tmp_path / name
        p.write_bytes(blob)
        with pytest.raises(ValueError, match=name):
            load_audio(p)


def test_nan_file_is_rejected_and_clipping_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    x = _tone(8000, channels=1)[0]
    x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(ValueError, match="NaN"):
        load_audio(tmp_path / "nan.wav")
    clipped = np.clip(3 * _tone(8000, channels=1)[0], -1, 1)
    sf.write(tmp_path / "clip.wav", clipped, 8000)
    with caplog.at_level(logging.WARNING):
        y, _ = load_audio(tmp_path / "clip.wav")
    assert "clipped" in caplog.text and y.size == clipped.size


def test_a_corpus_reports_its_clipped_files_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from scrapl_live.train.classifier_data import OneShot, load_items

    items = []
    for i, gain in enumerate((3.0, 3.0, 0.5)):  # two clipped one-shots, one clean
        sf.write(tmp_path / f"{i}.wav", np.clip(gain * _tone(44100, channels=1)[0], -1, 1), 44100)
        items.append(OneShot(tmp_path / f"{i}.wav", "kit", "train", "kick"))
    with caplog.at_level(logging.INFO):
        heads, kept = load_items(items, 44100, 2048)
    assert len(heads) == len(kept) == 3
    assert "2 of 3 one-shots reach full scale" in caplog.text
    assert "samples at or above" not in caplog.text  # no line per file


def test_bad_arguments(tmp_path: Path) -> None:
    save_audio(tmp_path / "a.wav", np.zeros(100, np.float32), 8000)
    with pytest.raises(ValueError, match="sample_rate"):
        load_audio(tmp_path / "a.wav", sample_rate=-1)
    with pytest.raises(ValueError, match="sample_rate"):
        save_audio(tmp_path / "b.wav", np.zeros(10, np.float32), 0)
    with pytest.raises(ValueError, match="NaN"):
        save_audio(tmp_path / "b.wav", np.full(10, np.nan, np.float32), 8000)
