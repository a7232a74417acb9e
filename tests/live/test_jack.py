"""Real parts: the live engine on a JACK graph (dummy driver) — audio in, synth audio and MIDI out.

An 808 hit is played by a second PortAudio client into the engine's input; the engine's output is
recorded back by that client, and its MIDI (note + CCs) is read by an rtmidi input on a JACK port.
Also: the audio callback copies without allocating sample buffers.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tracemalloc
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.live.stream import DuplexRings

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def test_callback_copies_between_rings_without_allocating() -> None:
    bs = 4096  # a copy of any sample buffer would show up as >= 16 kB
    rings = DuplexRings(bs, ring_blocks=8)
    rng = np.random.default_rng(0)
    indata = rng.standard_normal((bs, 1)).astype(np.float32)
    outdata = np.zeros((bs, 2), np.float32)
    played = rng.standard_normal(bs * 4).astype(np.float32)
    rings.callback(indata, outdata, bs, None, None)  # warm-up (first-call caches)
    heard = np.zeros((3, bs), np.float32)
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    for i in range(3):
        rings.out_ring.write(played[i * bs : (i + 1) * bs])  # the worker delivers one block per callback
        rings.callback(indata, outdata, bs, None, None)
        np.copyto(heard[i], outdata[:, 0])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.testing.assert_array_equal(heard.reshape(-1), played[: 3 * bs])
    assert peak - base < 4096  # a few transient view objects, no sample buffers
    rings.out_ring.write(played[:bs])  # a late block and the current one arrive together:
    rings.out_ring.write(played[3 * bs :])
    rings.callback(indata, outdata, bs, None, None)
    np.testing.assert_array_equal(outdata[:, 0], played[3 * bs :])  # play the newest, drop the late one
    assert rings.dropped == bs
    np.testing.assert_array_equal(outdata[:, 1], outdata[:, 0])
    rings.armed = True
    rings.callback(indata, outdata, bs, None, "input overflow")
    assert np.all(outdata == 0) and rings.underruns == 1 and rings.xruns == 1
    assert rings.in_ring.available() == 6 * bs


def _jack(*args: str) -> str:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=10).stdout


def _wait_ports(client: str, proc: subprocess.Popen | None = None, timeout_s: float = 60.0) -> list[str]:
    """The client's ports once it has at least two; fails early (with its stderr) if ``proc`` exits."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{client} exited with {proc.returncode}:\n{proc.stderr.read()}")
        ports = [p for p in _jack("jack_lsp").split("\n") if p.startswith(client + ":")]
        if len(ports) >= 2:
            return ports
        time.sleep(0.1)
    raise AssertionError(f"JACK client {client} did not appear")


def _route(src_client: str, dst_client: str) -> None:
    """src:out_0 → dst:in_0, after removing PortAudio's automatic connections to the system ports."""
    for port in (f"{dst_client}:in_0", f"{src_client}:out_0"):
        for peer in ("system:capture_1", "system:playback_1", "system:capture_2", "system:playback_2"):
            subprocess.run(["jack_disconnect", peer, port], capture_output=True)
            subprocess.run(["jack_disconnect", port, peer], capture_output=True)
    proc = subprocess.run(["jack_connect", f"{src_client}:out_0", f"{dst_client}:in_0"], capture_output=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.jack
@pytest.mark.usefixtures("jack_running")
def test_hit_through_jack_gives_synth_audio_and_midi(models: dict[str, Path], tmp_path: Path) -> None:
    import rtmidi

    import synths
    from scrapl_live.audio import resample
    from scrapl_live.control.mapping import default_mapping
    from scrapl_live.control.midi import MidiSink
    from scrapl_live.live.demo import PRESETS
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.model import load_model
    from scrapl_live.live.stream import LiveStream

    torch.set_num_threads(1)
    tag = uuid.uuid4().hex[:6]
    eng_client, ply_client, midi_client = f"scrapl-eng-{tag}", f"scrapl-ply-{tag}", f"scrapl-midi-{tag}"
    kick = synths.get("tr808", pre_delay=0, max_shift=0).render(seed=0, **PRESETS["kick"]).numpy()
    clip = np.zeros(48000, np.float32)
    hit_at = 12000
    hit = resample(kick, 44100, 48000)[:30000]
    clip[hit_at : hit_at + hit.size] = 0.5 * hit / np.abs(hit).max()
    np.save(tmp_path / "clip.npy", clip)

    rx = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name=midi_client)
    rx.open_virtual_port("in")
    model = load_model(models["tr808"])
    names = list(model.param_names)
    sink = MidiSink(default_mapping(names), names, 48000, port=f"{midi_client}:in",
                    client_name=eng_client + "-out")
    engine = Engine(model, 48000, 256, sinks=[sink], async_inference=True)
    stream = LiveStream(engine, jack_client_name=eng_client)
    player = subprocess.Popen(
        [sys.executable, str(HERE / "jack_player.py"), ply_client, str(tmp_path / "clip.npy"),
         str(tmp_path / "rec.npy"), str(tmp_path / "go"), "1.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])},
    )
    try:
        with stream:
            _wait_ports(eng_client)
            _wait_ports(ply_client, player)
            _route(ply_client, eng_client)
            _route(eng_client, ply_client)
            (tmp_path / "go").touch()
            _, err = player.communicate(timeout=120)
            assert player.returncode == 0, err[-2000:]
            messages = []  # read while the ports are open: JACK delivers MIDI in its next cycles
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not any(m[0] & 0xF0 == 0x90 for m in messages):
                while (msg := rx.get_message()) is not None:
                    messages.append(msg[0])
                time.sleep(0.01)
            time.sleep(0.1)
            while (msg := rx.get_message()) is not None:
                messages.append(msg[0])
    finally:
        if player.poll() is None:
            player.kill()
        engine.close()
    rx.delete()
    rec = np.load(tmp_path / "rec.npy")
    assert engine.n_hits >= 1
    assert (engine.xruns, engine.underruns) == (stream.xruns, stream.underruns)  # the view's counters
    before = rec[: hit_at + engine.window]
    after = rec[hit_at + engine.window : hit_at + engine.window + 24000]
    assert np.sqrt(np.mean(after**2)) > 10 * max(np.sqrt(np.mean(before**2)), 1e-5)  # synth hit came back
    notes = [m for m in messages if m[0] & 0xF0 == 0x90 and m[2] > 0]
    ccs = {m[1] for m in messages if m[0] & 0xF0 == 0xB0}
    assert len(notes) == engine.n_hits and len(ccs) == len(names)
    onset_out = int(np.argmax(np.abs(rec) > 0.01))
    print(f"end-to-end onset→sound {1e3 * (onset_out - hit_at) / 48000:.1f} ms (W = "
          f"{1e3 * engine.window / 48000:.1f} ms), xruns {stream.xruns}, underruns {stream.underruns}")


def test_missing_devices_are_clear_errors(
    models: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from scrapl_live.cli import main
    from scrapl_live.live.stream import resolve_device

    with pytest.raises(ValueError, match="no-such-card"):
        resolve_device("no-such-card", "input")
    with pytest.raises(ValueError, match="999"):
        resolve_device(999, "output")
    argv = ["live", "--model", str(models["tr808"]), "--input", "no-such-card", "--duration", "0.1"]
    assert main(argv) == 1
    assert "no-such-card" in capsys.readouterr().err
