"""Control outputs: parameter → MIDI CC / plugin mapping, MIDI out, MIDI files, plugin host, devices.

rtmidi, mido, pedalboard and sounddevice are imported only when a port, file or plugin is opened.
"""

from scrapl_live.control.devices import DeviceList, format_devices, list_devices
from scrapl_live.control.mapping import Mapping, ParamMap, default_mapping, load_mapping, save_mapping
from scrapl_live.control.midi import MidiSink, open_midi_out
from scrapl_live.control.midifile import MidiFileSink
from scrapl_live.control.plugins import PluginSink, load_plugin, parameter_names, parameter_range

__all__ = [
    "DeviceList",
    "Mapping",
    "MidiFileSink",
    "MidiSink",
    "ParamMap",
    "PluginSink",
    "default_mapping",
    "format_devices",
    "list_devices",
    "load_mapping",
    "load_plugin",
    "open_midi_out",
    "parameter_names",
    "parameter_range",
    "save_mapping",
]
