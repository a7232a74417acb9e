"""Fixtures for the control tests: our DPF VST3 test plugins (built once per session) and JACK MIDI."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from scrapl_live.control.devices import jack_server_running

PLUGIN_SRC = Path(__file__).resolve().parents[1] / "fixtures" / "plugins"
DPF_PATH = Path(os.environ.get("DPF_PATH", "/usr/share/dpf"))


@pytest.fixture(scope="session")
def vst3_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Folder with ScraplTestGain.vst3 and ScraplTestSine.vst3, built from tests/fixtures/plugins."""
    missing = [t for t in ("make", "g++") if shutil.which(t) is None]
    if not (DPF_PATH / "Makefile.plugins.mk").is_file():
        missing.append(f"DPF headers in {DPF_PATH} (apt-get install dpf-source)")
    if missing:
        reason = f"cannot build the VST3 test plugins, missing: {', '.join(missing)}"
        print(reason)
        pytest.skip(reason)
    out = tmp_path_factory.mktemp("vst3")
    proc = subprocess.run(["bash", str(PLUGIN_SRC / "build.sh"), str(out)], capture_output=True, text=True)
    assert proc.returncode == 0, f"build.sh failed:\n{proc.stdout}\n{proc.stderr}"
    return out


@pytest.fixture(scope="session")
def jack_server() -> None:
    """Skip (with the reason printed) unless a JACK server is reachable; never auto-start one."""
    os.environ["JACK_NO_START_SERVER"] = "1"
    import rtmidi

    reason = None
    if rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        reason = "python-rtmidi was built without JACK support"
    elif shutil.which("jack_wait") is not None:
        if not jack_server_running():
            reason = "no JACK server running (start: jackd --no-realtime -d dummy -r 48000 -p 256 &)"
    else:
        try:
            rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="scrapl-live-probe").delete()
        except rtmidi.RtMidiError as exc:
            reason = f"no JACK server reachable: {exc}"
    if reason:
        print(reason)
        pytest.skip(reason)


@pytest.fixture
def client_name() -> str:
    """A unique JACK client name per test, so parallel runs do not collide."""
    return f"scrapl-test-{uuid.uuid4().hex[:8]}"
