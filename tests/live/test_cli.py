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


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    out, err = capsys.readouterr()
    lines = [line for line in err.splitlines() if "error" in line]
    assert len(lines) == 1 and "Traceback" not in err and "wrote" not in out, (out, err)
    return lines[0]


def test_resynth_outputs_are_checked_before_the_work(models: dict[str, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = hit_sequence(2, 44100, seed=4, gap_s=(0.3, 0.3))
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100)
    before = src.read_bytes()
    (tmp_path / "folder").mkdir()
    (tmp_path / "afile").write_text("x")
    # a broken model: had the work started, the error would name the model, not the output
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    cases = [
        (["-o", str(tmp_path / "folder") + "/"], "is a folder"),
        (["-o", str(tmp_path / "folder")], "is a folder"),
        (["-o", str(tmp_path / "out.txt")], "unknown extension '.txt'"),
        (["-o", str(tmp_path / "afile" / "out.wav")], "is a file, not a folder"),
        (["-o", "/proc/out.wav"], "cannot write in /proc"),
        (["-o", str(src)], "is the input file"),
        (["-o", str(tmp_path / "o.wav"), "--mid", "/proc/x.mid"], "--mid /proc/x.mid"),
        (["-o", str(tmp_path / "o.wav"), "--mid", str(tmp_path / "x.wav")], "unknown extension '.wav'"),
    ]
    for extra, needle in cases:
        assert main(["resynth", str(src), "--model", str(broken), *extra]) == 1, extra
        assert needle in _one_error_line(capsys), extra
    assert src.read_bytes() == before  # the input was never overwritten
    assert sorted(p.name for p in tmp_path.iterdir()) == ["afile", "broken.onnx", "folder", "in.wav"]


def test_resynth_model_and_synth_mistakes_say_what_to_do(models: dict[str, Path], tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    x, _ = hit_sequence(1, 44100, seed=5)
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100)
    pt = tmp_path / "tr808.pt"
    pt.write_bytes(b"checkpoint")
    mapping = tmp_path / "m.toml"
    mapping.write_text("[params.noise_decay]\ncc = 20\n")
    out = ["-o", str(tmp_path / "o.wav")]
    cases = [
        (["--model", str(pt)], "is a training checkpoint: export it first"),
        (["--model", str(tmp_path)], "is a folder: pass the model file"),
        (["--model", str(models["granular"]), "--synth", "tr808"], "--synth tr808 contradicts --model"),
        (["--map", str(mapping)], "--map needs --plugin or --mid"),
    ]
    for extra, needle in cases:
        assert main(["resynth", str(src), *out, *extra]) == 1, extra
        line = _one_error_line(capsys)
        assert needle in line and "--midi-port" not in line, extra
    assert main(["resynth", str(tmp_path), *out]) == 1
    assert "is a folder, not an audio file" in _one_error_line(capsys)
    assert not (tmp_path / "o.wav").exists()


def test_ctrl_c_stops_resynth_cleanly_and_writes_nothing(models: dict[str, Path], tmp_path: Path) -> None:
    import signal
    import time

    x, _ = hit_sequence(200, 44100, seed=6, gap_s=(0.2, 0.3))  # ~50 s of hits: still running at the signal
    src = tmp_path / "in.wav"
    sf.write(src, x, 44100)
    out, mid = tmp_path / "o.wav", tmp_path / "o.mid"
    mid.write_bytes(b"old")  # an earlier file of that name stays as it was
    err_path = tmp_path / "err.txt"
    with open(err_path, "w") as err:
        proc = subprocess.Popen([sys.executable, "-m", "scrapl_live.cli", "resynth", str(src), "-o", str(out),
                                 "--mid", str(mid), "--model", str(models["tr808"])],
                                stdout=subprocess.PIPE, stderr=err, text=True,
                                # a shell's background job ignores SIGINT and its children inherit that:
                                # give the command the default action a terminal's Ctrl-C meets
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        deadline = time.monotonic() + 240
        while "resynth:" not in err_path.read_text() and time.monotonic() < deadline:  # the progress bar
            assert proc.poll() is None, err_path.read_text()
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        stdout, _ = proc.communicate(timeout=120)
    stderr = err_path.read_text()
    assert proc.returncode == 130 and "interrupted" in stderr and "Traceback" not in stderr, stderr[-2000:]
    assert "wrote" not in stdout and not out.exists() and mid.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["err.txt", "in.wav", "o.mid"]  # no temp left


def test_live_first_window_out_of_range_is_one_line_before_any_device(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("64", "2048"):
        argv = ["--model", str(models["tr808"]), "--first-window", bad, "--quiet", "--duration", "0.1"]
        rc = main(["live", *argv])
        assert rc == 1
        assert "first_window must be an int in 128..1024" in _one_error_line(capsys)
