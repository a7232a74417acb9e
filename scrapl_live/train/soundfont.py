"""Drum one-shots rendered from SF2 soundfonts: list the drum kits (bank 128) and render each note.

:func:`drum_presets` reads the preset headers (``phdr`` chunk) of an SF2 file; :func:`render_kit` writes
a MIDI file that strikes every requested note of one kit on the GM drum channel, renders it with the
``fluidsynth`` command-line player (reverb and chorus off) and cuts one clip per strike.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DRUM_BANK = 128
DRUM_CHANNEL = 9  # GM channel 10
PHDR_RECORD = 38  # bytes: name[20], preset, bank, bag index (u16), library, genre, morphology (u32)


@dataclass(frozen=True)
class Strike:
    """One rendered note: GM ``note``, MIDI ``velocity`` and its ``audio`` (N,) float32 mono."""

    note: int
    velocity: int
    audio: np.ndarray


def _chunks(data: bytes, start: int, end: int):
    """Yield (id, payload offset, size) of the RIFF sub-chunks in ``data[start:end]``."""
    pos = start
    while pos + 8 <= end:
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        yield cid, pos + 8, size
        pos += 8 + size + (size & 1)


def presets(sf2: str | Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of every preset in an SF2 file (the terminal ``EOP`` record left out)."""
    data = Path(sf2).read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"sfbk":
        raise ValueError(f"{sf2} is not an SF2 soundfont (no RIFF/sfbk header)")
    for cid, off, size in _chunks(data, 12, len(data)):
        if cid == b"LIST" and data[off : off + 4] == b"pdta":
            for sub, soff, ssize in _chunks(data, off + 4, off + size):
                if sub == b"phdr":
                    out = []
                    for r in range(ssize // PHDR_RECORD - 1):
                        rec = data[soff + r * PHDR_RECORD : soff + (r + 1) * PHDR_RECORD]
                        name = rec[:20].split(b"\0", 1)[0].decode("latin-1").strip()
                        program, bank = struct.unpack("<HH", rec[20:24])
                        out.append((bank, program, name))
                    return out
    raise ValueError(f"{sf2} has no preset headers (pdta/phdr chunk)")


def drum_kits(sf2: str | Path) -> list[tuple[int, int, str]]:
    """(bank, program, name) of the drum kits of an SF2 file: its bank-128 presets, or every preset of
    a soundfont that has no bank 128 (a drum-only soundfont such as AVL Drums)."""
    found = sorted(presets(sf2))
    drums = [p for p in found if p[0] == DRUM_BANK]
    return drums or found


def _midi(
    path: Path, bank: int, program: int, strikes: list[tuple[int, int]], spacing: float, hold: float
) -> None:
    """Bank 128 plays on the GM drum channel; any other bank on channel 1 with a bank select."""
    import mido

    tpb, tempo = 480, 500_000  # 120 bpm: 960 ticks per second
    ticks = lambda s: int(round(s * tpb * 1e6 / tempo))  # noqa: E731
    ch = DRUM_CHANNEL if bank == DRUM_BANK else 0
    head = [] if bank == DRUM_BANK else [mido.Message("control_change", channel=ch, control=0, value=bank)]
    track = mido.MidiTrack([*head, mido.Message("program_change", channel=ch, program=program, time=0)])
    for note, velocity in strikes:
        track.append(mido.Message("note_on", channel=ch, note=note, velocity=velocity, time=0))
        track.append(mido.Message("note_off", channel=ch, note=note, velocity=0, time=ticks(hold)))
        track.append(mido.Message("note_off", channel=ch, note=note, velocity=0, time=ticks(spacing - hold)))
    mido.MidiFile(ticks_per_beat=tpb, tracks=[track]).save(path)


def render_kit(
    sf2: str | Path,
    bank: int,
    program: int,
    notes: list[int],
    velocities: list[int],
    sample_rate: int = 44100,
    spacing: float = 3.0,
    hold: float = 1.0,
    silence: float = 1e-4,
) -> list[Strike]:
    """Render every (note, velocity) of drum kit (``bank``, ``program``) with fluidsynth, ``spacing`` s each.

    Notes the kit does not define render silent (peak < ``silence``) and are left out.
    RuntimeError when the ``fluidsynth`` program is missing or fails.
    """
    import soundfile as sf

    exe = shutil.which("fluidsynth")
    if exe is None:
        raise RuntimeError("fluidsynth is not installed: apt-get install fluidsynth (Debian/Ubuntu)")
    strikes = [(n, v) for n in notes for v in velocities]
    with tempfile.TemporaryDirectory() as tmp:
        mid, wav = Path(tmp) / "kit.mid", Path(tmp) / "kit.wav"
        _midi(mid, bank, program, strikes, spacing, hold)
        cmd = [exe, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(sample_rate),
               "-T", "wav", "-O", "float", "-F", str(wav), str(sf2), str(mid)]  # fmt: skip
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True)
        except subprocess.CalledProcessError as exc:
            what = f"{sf2} bank {bank} program {program}"
            raise RuntimeError(f"fluidsynth failed on {what}: {exc.stderr.strip()}") from exc
        audio, sr = sf.read(wav, dtype="float32", always_2d=True)
    mono = audio.mean(axis=1)
    clip = int(round(spacing * sr))
    out = []
    for i, (note, velocity) in enumerate(strikes):
        seg = mono[i * clip : (i + 1) * clip]
        if seg.size and float(np.abs(seg).max()) >= silence:
            out.append(Strike(note, velocity, seg.copy()))
    return out
