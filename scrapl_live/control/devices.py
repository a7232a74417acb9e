"""Audio devices (sounddevice) and MIDI ports (rtmidi) for ``scrapl-live devices``.

Both libraries are imported lazily; a missing audio or MIDI system is reported in the result rather
than raised, so the listing always works (e.g. MIDI over JACK when no JACK server runs).
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class DeviceList:
    """What ``list_devices`` found; ``*_error`` holds the reason a part could not be listed."""

    audio: list[dict[str, Any]] = field(default_factory=list)
    default_input: int | None = None
    default_output: int | None = None
    midi_api: str = ""
    midi_inputs: list[str] = field(default_factory=list)
    midi_outputs: list[str] = field(default_factory=list)
    audio_error: str | None = None
    midi_error: str | None = None


def jack_server_running() -> bool:
    """Whether a JACK server answers, asked with ``jack_wait -c`` without ever auto-starting one.

    ``jack_wait -c`` exits 0 whether or not a server runs, so its printed answer is what counts.
    False when the JACK tools are not installed.
    """
    if shutil.which("jack_wait") is None:
        return False
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    try:
        proc = subprocess.run(["jack_wait", "-c"], capture_output=True, text=True, env=env, timeout=10)
    except subprocess.TimeoutExpired:
        return False
    return proc.stdout.strip() == "running"


def list_devices() -> DeviceList:
    """Audio devices (index, name, host API, channels, default rate) and MIDI in/out ports."""
    result = DeviceList()
    try:
        import sounddevice as sd

        apis = sd.query_hostapis()
        for i, dev in enumerate(sd.query_devices()):
            result.audio.append({
                "index": i,
                "name": dev["name"],
                "hostapi": apis[dev["hostapi"]]["name"],
                "inputs": int(dev["max_input_channels"]),
                "outputs": int(dev["max_output_channels"]),
                "sample_rate": float(dev["default_samplerate"]),
            })
        din, dout = sd.default.device
        result.default_input = din if din is not None and din >= 0 else None
        result.default_output = dout if dout is not None and dout >= 0 else None
    except (OSError, ImportError) as exc:  # PortAudio missing or failing
        result.audio_error = str(exc)
    import rtmidi

    from scrapl_live.control.midi import midi_api

    api = midi_api()
    result.midi_api = rtmidi.get_api_display_name(api)
    try:
        result.midi_inputs = rtmidi.MidiIn(rtapi=api, name="scrapl-live-list").get_ports()
        result.midi_outputs = rtmidi.MidiOut(rtapi=api, name="scrapl-live-list").get_ports()
    except rtmidi.RtMidiError as exc:  # e.g. the JACK API without a running JACK server
        result.midi_error = str(exc)
    return result


def format_devices(devices: DeviceList) -> str:
    """Plain-text listing for the terminal (``>`` / ``<`` mark the default input / output)."""
    lines = ["Audio devices:"]
    if devices.audio_error:
        lines.append(f"  unavailable: {devices.audio_error}")
    for d in devices.audio:
        mark = (">" if d["index"] == devices.default_input else " ") + (
            "<" if d["index"] == devices.default_output else " "
        )
        lines.append(
            f"{mark} {d['index']:3d} {d['name']} ({d['hostapi']}, {d['inputs']} in, {d['outputs']} out, "
            f"{d['sample_rate']:.0f} Hz)"
        )
    lines.append(f"MIDI ports ({devices.midi_api or 'no MIDI API'}):")
    if devices.midi_error:
        lines.append(f"  unavailable: {devices.midi_error}")
    lines += [f"  in:  {p}" for p in devices.midi_inputs] + [f"  out: {p}" for p in devices.midi_outputs]
    return "\n".join(lines)
