"""Fixtures for the live tests: tiny untrained encoders exported once per session, JACK availability."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
import torch

from scrapl_live.control.devices import jack_server_running


def _export(tmp: Path, synth: str, seed: int, name: str) -> Path:
    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config

    torch.manual_seed(seed)
    path = tmp / f"{name}.onnx"
    export_onnx(Encoder(encoder_config(synth, "live")), path)
    return path


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Exported untrained encoders: 'tr808', 'tr808_b' (other weights) and 'granular'."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("models")
    return {
        "tr808": _export(tmp, "tr808", 0, "tr808"),
        "tr808_b": _export(tmp, "tr808", 1, "tr808_b"),
        "granular": _export(tmp, "granular", 0, "granular"),
    }


@pytest.fixture(scope="session")
def jack_running() -> None:
    """Skip (reason printed) unless a JACK server is reachable; never auto-start one."""
    os.environ["JACK_NO_START_SERVER"] = "1"
    reason = None
    if shutil.which("jack_wait") is None or shutil.which("jack_connect") is None:
        reason = "JACK command-line tools (jack_wait, jack_connect) are not installed"
    elif not jack_server_running():
        reason = "no JACK server running (start: jackd --no-realtime -d dummy -r 48000 -p 256 &)"
    if reason:
        print(reason)
        pytest.skip(reason)
