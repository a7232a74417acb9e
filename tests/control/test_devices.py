"""Device listing: real PortAudio devices and real JACK MIDI ports."""

from __future__ import annotations

import time

import pytest

from scrapl_live.control.devices import format_devices, list_devices


def test_audio_listing_matches_sounddevice() -> None:
    import sounddevice as sd

    found = list_devices()
    assert found.audio_error is None
    assert [d["name"] for d in found.audio] == [d["name"] for d in sd.query_devices()]
    for d in found.audio:
        assert d["inputs"] >= 0 and d["outputs"] >= 0 and d["sample_rate"] > 0
    text = format_devices(found)
    assert text.startswith("Audio devices:") and "MIDI ports" in text


@pytest.mark.jack
def test_midi_ports_listed(client_name: str, request: pytest.FixtureRequest) -> None:
    import rtmidi

    from scrapl_live.control.midi import midi_api

    api = midi_api()  # JACK without /dev/snd/seq (CI), else ALSA
    if api == rtmidi.API_UNIX_JACK:
        request.getfixturevalue("jack_server")
    rx = rtmidi.MidiIn(rtapi=api, name=client_name)
    rx.open_virtual_port("in")
    tx = rtmidi.MidiOut(rtapi=api, name=client_name + "-tx")
    tx.open_virtual_port("out")
    time.sleep(0.05)
    found = list_devices()
    assert found.midi_api == rtmidi.get_api_display_name(api) and found.midi_error is None
    # a MIDI input of another client is a port we can send to (an "out" port for us), and vice versa
    assert any(p.startswith(f"{client_name}:") for p in found.midi_outputs)
    assert any(p.startswith(f"{client_name}-tx:") for p in found.midi_inputs)
    assert f"out: {client_name}:" in format_devices(found)
    rx.delete()
    tx.delete()


@pytest.mark.jack
def test_jack_server_running_agrees_with_a_real_client() -> None:
    """The probe says "running" exactly when a JACK client can connect (jack_wait -c alone cannot tell)."""
    import shutil

    import rtmidi

    from scrapl_live.control.devices import jack_server_running

    if shutil.which("jack_wait") is None or rtmidi.API_UNIX_JACK not in rtmidi.get_compiled_api():
        reason = "JACK tools or python-rtmidi's JACK API are missing"
        print(reason)
        pytest.skip(reason)
    try:
        rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="scrapl-live-probe-test").delete()
        connects = True
    except rtmidi.RtMidiError:
        connects = False
    assert jack_server_running() is connects
