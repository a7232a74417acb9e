"""``scrapl-live synth``: files written match the synth, errors exit with 1."""

import json
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest
import soundfile as sf
import torch

import synths
from scrapl_live.cli import main


def test_physical_values_to_wav_and_png(tmp_path: Path) -> None:
    wav, png = tmp_path / "kick.wav", tmp_path / "kick.png"
    argv = [
        "synth",
        "tr808",
        "--set",
        "osc1_freq=55",
        "--set",
        "noise_gain=-20",
        "-o",
        str(wav),
        "--png",
        str(png),
    ]
    assert main(argv) == 0
    audio, sr = sf.read(wav)
    expected = synths.get("tr808").render(seed=0, osc1_freq=55.0, noise_gain=-20.0).numpy()
    assert sr == 44100 and audio.shape == (44100,)
    np.testing.assert_allclose(audio, expected, atol=1e-6)  # 24-bit quantisation
    image = matplotlib.image.imread(png)
    assert image.ndim == 3 and image.shape[0] > 100 and image.std() > 0.05


def test_theta_and_options(tmp_path: Path) -> None:
    wav = tmp_path / "chirp.wav"
    assert (
        main(
            [
                "synth",
                "chirplet",
                "--option",
                "preset=hi_hi",
                "--theta",
                "0.2,0.7",
                "--seed",
                "4",
                "-o",
                str(wav),
            ]
        )
        == 0
    )
    audio, sr = sf.read(wav)
    ref = synths.get("chirplet", preset="hi_hi")(torch.tensor([[0.2, 0.7]]), torch.tensor([4]))[0, 0].numpy()
    assert sr == 8192 and np.abs(ref).max() > 1.0
    np.testing.assert_allclose(audio, ref * 0.99 / np.abs(ref).max(), atol=1e-6)  # peak-scaled below clipping


def test_random_patches(tmp_path: Path) -> None:
    out = tmp_path / "textures"
    assert main(["synth", "granular", "--random", "2", "--seed", "10", "--out-dir", str(out)]) == 0
    patches = json.loads((out / "patches.json").read_text())
    assert [p["file"] for p in patches] == ["granular_000.wav", "granular_001.wav"]
    assert (out / "granular_001.png").is_file()
    s = synths.get("granular")
    audio, _ = sf.read(out / "granular_001.wav")
    ref = s(torch.tensor([patches[1]["theta"]]), torch.tensor([patches[1]["seed"]]))[0, 0].numpy()
    np.testing.assert_allclose(audio, ref, atol=1e-6)


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "moog", "-o", "x.wav"],
        ["synth", "tr808", "--set", "osc1_freq=5", "-o", "x.wav"],
        ["synth", "tr808", "--set", "osc1_freq", "-o", "x.wav"],
        ["synth", "tr808", "--theta", "0.5,0.5", "-o", "x.wav"],
        ["synth", "tr808", "--set", "osc1_freq=55"],
        ["synth", "tr808", "--option", "time_shift=sideways", "-o", "x.wav"],
    ],
)
def test_bad_arguments_exit_1(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    argv = [str(tmp_path / a) if a == "x.wav" else a for a in argv]
    assert main(argv) == 1
    assert "error" in capsys.readouterr().err


def test_params_table(capsys: pytest.CaptureFixture) -> None:
    assert main(["synth", "tr808", "--params"]) == 0
    assert "noise_freq" in capsys.readouterr().out
