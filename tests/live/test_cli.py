"""CLI: sane demo outputs, resynth round trip (stereo, any rate), clear errors, no audio stack needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch

from scrapl_live.cli import main
from tests.live.signals import hit_sequence


@pytest.fixture(scope="module")
def demo_dir(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("demo")
    rc = main(["demo", "--out", str(out), "--tr808-model", str(models["tr808"]),
               "--granular-model", str(models["granular"])])
    assert rc == 0
    return out


def test_demo_outputs_exist_and_are_sane(demo_dir: Path) -> None:
    from scrapl_live.live.demo import PATTERN

    for name in ("input.wav", "resynth.wav", "hits.mid", "texture.mid", "compare.png"):
        assert (demo_dir / name).stat().st_size > 0, name
    y, sr = sf.read(demo_dir / "resynth.wav")
    assert sr == 44100 and np.sqrt(np.mean(y**2)) > 1e-3  # non-silent
    assert np.mean(np.abs(y) >= 0.999) < 1e-4  # no clipping
    midi = mido.MidiFile(demo_dir / "hits.mid")
    notes = [m for m in midi if m.type == "note_on" and m.velocity > 0]
    ccs = {m.control for m in midi if m.type == "control_change"}
    assert len(notes) == len(PATTERN)  # one MIDI note per hit of the example
    assert len(ccs) == 14  # CC automation of every tr808 parameter
    assert (demo_dir / "compare.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_resynth_round_trip_stereo_48k_flac(models: dict[str, Path], tmp_path: Path) -> None:
    x, onsets = hit_sequence(4, 48000, seed=9, levels_db=(-20.0, -6.0), gap_s=(0.3, 0.4))
    src = tmp_path / "in.flac"
    sf.write(src, np.stack([x, 0.5 * x], axis=1), 48000)
    out, mid = tmp_path / "out.wav", tmp_path / "out.mid"
    argv = ["resynth", str(src), "-o", str(out), "--model", str(models["tr808"]), "--mid", str(mid)]
    assert main(argv) == 0
    y, sr = sf.read(out)
    assert sr == 44100 and y.size >= x.size * 44100 / 48000 and np.sqrt(np.mean(y**2)) > 1e-3
    notes = [m for m in mido.MidiFile(mid) if m.type == "note_on" and m.velocity > 0]
    assert len(notes) == len(onsets)


def test_resynth_through_a_builtin_plugin(models: dict[str, Path], tmp_path: Path) -> None:
    x, _ = hit_sequence(2, 44100, seed=1, gap_s=(0.3, 0.3))
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100)
    mapping = tmp_path / "map.toml"
    mapping.write_text('[params.noise_decay]\ncc = 20\nplugin = "room_size"\n')
    out = tmp_path / "out.wav"
    rc = main(["resynth", str(src), "-o", str(out), "--model", str(models["tr808"]),
               "--plugin", "builtin:Reverb", "--map", str(mapping)])
    assert rc == 0 and np.sqrt(np.mean(sf.read(out)[0] ** 2)) > 1e-3


def test_bad_inputs_give_clear_errors(models: dict[str, Path], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF garbage")
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(44100), 44100)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    cases = [
        (["resynth", str(bad), "--model", str(models["tr808"])], "bad.wav"),
        (["resynth", str(tmp_path / "none.wav"), "--model", str(models["tr808"])], "none.wav"),
        (["resynth", str(silent), "--model", str(broken)], "broken"),
        (["demo", "--out", str(tmp_path / "d"), "--tr808-model", str(tmp_path / "nope.onnx")], "nope.onnx"),
    ]
    for argv, needle in cases:
        assert main(argv) == 1, argv
        assert needle in capsys.readouterr().err
    assert main(["resynth", str(silent), "-o", str(tmp_path / "s.wav"), "--model", str(models["tr808"])]) == 0
    assert np.abs(sf.read(tmp_path / "s.wav")[0]).max() == 0.0  # silence in, silence out


def test_resynth_works_without_portaudio_or_rtmidi(models: dict[str, Path], tmp_path: Path) -> None:
    x, _ = hit_sequence(2, 44100, seed=3, gap_s=(0.3, 0.3))
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100)
    code = (
        "import sys; sys.modules['sounddevice'] = None; sys.modules['rtmidi'] = None\n"
        "from scrapl_live.cli import main\n"
        f"sys.exit(main(['resynth', {str(src)!r}, '--model', {str(models['tr808'])!r}, "
        f"'--mid', {str(tmp_path / 'o.mid')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "o.mid").is_file() and (tmp_path / "in.resynth.wav").is_file()
