"""DrumSynth preset renderer: pitch, tuning, stretch, droop, noise band, master filter, bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrapl_live.train.drumsynth import SAMPLE_RATE, envelope, render

SR = SAMPLE_RATE


def preset(tmp_path: Path, general: str = "", **sections: str) -> Path:
    """A .ds file: [General] with ``general`` lines, then each ``sections`` body under its name."""
    text = "[General]\nVersion=DrumSynth v2.0\n" + general + "\n"
    for name, body in sections.items():
        text += f"\n[{name}]\nOn=1\n{body}\n"
    path = tmp_path / "p.ds"
    path.write_text(text.replace("\n", "\r\n"), encoding="latin-1")
    return path


def tone(f1: float, f2: float, droop: int = 0, end: int = SR // 2) -> str:
    return f"Level=128\nF1={f1}\nF2={f2}\nDroop={droop}\nPhase=0\nEnvelope=0,100 {end - 1},100 {end},0"


def peak_hz(x: np.ndarray) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / SR)[np.argmax(spec)])


def crossings_hz(x: np.ndarray) -> float:
    """Frequency from the upward zero crossings of a sine segment."""
    up = np.flatnonzero((x[:-1] < 0) & (x[1:] >= 0))
    return SR / float(np.mean(np.diff(up)))


def test_envelope_interpolates_its_points_and_stretches() -> None:
    env = envelope("0,100 100,50 300,0", 1.0, 400)
    np.testing.assert_allclose(env[[0, 50, 100, 200, 300, 399]], [1.0, 0.75, 0.5, 0.25, 0.0, 0.0])
    np.testing.assert_allclose(envelope("0,100 100,50 300,0", 2.0, 400)[200], 0.5)


def test_steady_tone_has_its_pitch_and_length(tmp_path: Path) -> None:
    x = render(preset(tmp_path, Tone=tone(440, 440)))
    assert len(x) == SR // 2
    assert abs(peak_hz(x) - 440) < 3


def test_tuning_and_stretch_scale_pitch_and_time(tmp_path: Path) -> None:
    x = render(preset(tmp_path, "Tuning=12\nStretch=200", Tone=tone(440, 440)))
    assert len(x) == SR
    assert abs(peak_hz(x) - 880) < 3


@pytest.mark.parametrize("droop", [0, 20])
def test_pitch_falls_from_f1_to_f2(tmp_path: Path, droop: int) -> None:
    x = render(preset(tmp_path, Tone=tone(400, 100, droop=droop, end=SR)))
    head, tail = x[: SR // 50], x[-SR // 25 :]
    assert crossings_hz(head) == pytest.approx(400, rel=0.06)
    assert crossings_hz(tail) == pytest.approx(100, rel=0.06)
    mid = crossings_hz(x[SR // 2 - 2000 : SR // 2 + 2000])
    if droop:  # Droop 20: exp(-4 t/T), at half time 100 + 300 (e^-2 - e^-4) / (1 - e^-4) = 136 Hz
        assert mid == pytest.approx(136, rel=0.05)
    else:
        assert mid == pytest.approx(250, rel=0.05)


def test_noise_band_holds_its_power_around_the_centre(tmp_path: Path) -> None:
    x = render(preset(tmp_path, NoiseBand="Level=128\nF=5000\ndF=20\nEnvelope=0,100 22049,100 22050,0"))
    power = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    band = (f > 5000 * 0.8) & (f < 5000 * 1.2)  # twice the 20 % band
    assert power[band].sum() > 0.95 * power.sum()


def test_master_high_pass_removes_the_lows_of_the_noise(tmp_path: Path) -> None:
    noise = "Level=128\nSlope=0\nEnvelope=0,100 22049,100 22050,0"
    plain = render(preset(tmp_path, Noise=noise))
    hp = render(preset(tmp_path, "Filter=1\nHighPass=1\nResonance=0\nFilterEnv=0,60 44100,60", Noise=noise))
    f = np.fft.rfftfreq(len(plain), 1 / SR)
    low = f < 200  # cutoff 20 Hz · 1000^0.6 ≈ 1.26 kHz: 200 Hz lies ~2.7 octaves below it (−32 dB, 12 dB/oct)

    def low_share(x: np.ndarray) -> float:
        p = np.abs(np.fft.rfft(x)) ** 2
        return float(p[low].sum() / p.sum())

    assert low_share(plain) == pytest.approx(200 / 22050, rel=0.5)
    assert low_share(hp) < 0.01 * low_share(plain)


def test_bad_and_silent_presets_are_one_line_errors(tmp_path: Path) -> None:
    junk = tmp_path / "junk.ds"
    junk.write_bytes(b"\x00\x01 not an ini")
    with pytest.raises(ValueError, match="not a DrumSynth preset"):
        render(junk)
    silent = tmp_path / "silent.ds"
    silent.write_text("[General]\nTuning=0\n[Tone]\nOn=0\nEnvelope=0,100 1000,0\n")
    with pytest.raises(ValueError, match="makes no sound"):
        render(silent)
