"""Drum classes from names: General-MIDI drum note names and rules on instrument and file names.

Every corpus labels its one-shots here (Hydrogen instrument names, GM note names of soundfont kits,
DrumSynth preset names, sample file names), so one rule set decides what a "kick" or an "open hat" is.
"""

from __future__ import annotations

import re
from pathlib import Path

CLASSES = ("kick", "snare", "tom", "closed_hat", "open_hat", "cymbal", "clap", "other")
NOTES = range(27, 88)  # GM drum notes 35-81 plus the GS extensions either side

GM_DRUMS = (  # notes 27..87
    "High Q", "Slap", "Scratch Push", "Scratch Pull", "Sticks", "Square Click", "Metronome Click",
    "Metronome Bell", "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Hand Clap",
    "Electric Snare", "Low Floor Tom", "Closed Hi-Hat", "High Floor Tom", "Pedal Hi-Hat", "Low Tom",
    "Open Hi-Hat", "Low-Mid Tom", "Hi-Mid Tom", "Crash Cymbal 1", "High Tom", "Ride Cymbal 1",
    "Chinese Cymbal", "Ride Bell", "Tambourine", "Splash Cymbal", "Cowbell", "Crash Cymbal 2", "Vibraslap",
    "Ride Cymbal 2", "Hi Bongo", "Low Bongo", "Mute Hi Conga", "Open Hi Conga", "Low Conga", "High Timbale",
    "Low Timbale", "High Agogo", "Low Agogo", "Cabasa", "Maracas", "Short Whistle", "Long Whistle",
    "Short Guiro", "Long Guiro", "Claves", "Hi Wood Block", "Low Wood Block", "Mute Cuica", "Open Cuica",
    "Mute Triangle", "Open Triangle", "Shaker", "Jingle Bell", "Bell Tree", "Castanets", "Mute Surdo",
    "Open Surdo",
)

_HAT = re.compile(r"(^| )(hh|hi ?hat|hihat|hat)")
_OPEN = re.compile(r"open|(hh|hat) o( |\d|$)")
_RULES = (
    ("kick", re.compile(r"kick|bass ?drum|(^| )(bd|kik)( |\d|$)")),
    ("snare", re.compile(r"snare|(^| )(sd|snr)( |\d|$)")),
    ("clap", re.compile(r"clap")),
    ("tom", re.compile(r"(^| )tom")),
    ("cymbal", re.compile(r"crash|ride|cymbal|china|splash|(^| )(cym|crsh)")),
)


def gm_name(note: int) -> str:
    """General MIDI (GS) drum name of ``note`` 27..87, else ``"note N"``."""
    return GM_DRUMS[note - NOTES.start] if note in NOTES else f"note {note}"


def drum_class(name: str) -> str:
    """One of :data:`CLASSES` from an instrument or file name ("Open HH", "hihat_opened01", "FloorTom")."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    text = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    if _HAT.search(text):
        return "open_hat" if _OPEN.search(text) else "closed_hat"
    return next((cls for cls, rule in _RULES if rule.search(text)), "other")


def label(instrument: str, filename: str) -> str:
    """Class from the instrument name, else from the file name."""
    cls = drum_class(instrument) if instrument else "other"
    return cls if cls != "other" else drum_class(Path(filename).stem)
