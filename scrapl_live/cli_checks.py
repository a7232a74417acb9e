"""Checks of command-line paths before any work starts, each failure a one-line ``ValueError``.

An output is checked when the command starts, not when the work ends: the extension is one the
writer knows, the path is not a folder and not one of the inputs, no parent is a file, and the
nearest existing folder accepts a new file (probed by creating and deleting one, which is what
permission bits alone cannot tell, e.g. for ``/proc``).  A model must be an exported ``.onnx`` file.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterable
from pathlib import Path

AUDIO_OUT = (".wav", ".flac", ".ogg")
MIDI_OUT = (".mid", ".midi")
IMAGE_OUT = (".png",)


def check_output(path: str | Path, suffixes: Iterable[str], flag: str,
                 inputs: Iterable[str | Path] = ()) -> Path:
    """Return ``path`` as a Path if a file can be written there; else a ValueError naming ``flag``."""
    text = str(path)
    p = Path(path)
    allowed = tuple(suffixes)
    if text.endswith(os.sep) or p.is_dir():
        example = p / f"out{allowed[0]}"
        raise ValueError(f"{flag} {text} is a folder: give a file name inside it, e.g. {example}")
    if p.suffix.lower() not in allowed:
        raise ValueError(f"{flag} {text}: unknown extension {p.suffix or '(none)'!r}; "
                         f"use {' or '.join(allowed)}")
    for src in inputs:
        if Path(src).exists() and p.exists() and os.path.samefile(src, p):
            raise ValueError(f"{flag} {text} is the input file: choose another output name")
    check_writable_folder(p.parent, flag, text)
    return p


def check_output_folder(path: str | Path, flag: str) -> Path:
    """``path`` if it is (or can be created as) a writable folder; else a ValueError naming ``flag``."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        raise ValueError(f"{flag} {p} is a file, not a folder: give a folder name")
    check_writable_folder(p, flag, str(p))
    return p


def check_writable_folder(folder: Path, flag: str, what: str) -> None:
    """The nearest existing ancestor of ``folder`` must be a folder that accepts a new file."""
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"{flag} {what}: {existing} is a file, not a folder: choose another path")
    probe = existing / f".scrapl-live-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp"
    try:
        probe.open("xb").close()
    except OSError as exc:
        raise ValueError(f"{flag} {what}: cannot write in {existing} ({exc.strerror}): "
                         "choose a writable folder") from None
    probe.unlink(missing_ok=True)


def check_model_file(path: str | Path, flag: str = "--model") -> Path:
    """An exported encoder: an existing ``.onnx`` file (a folder or a training ``.pt`` named as such)."""
    p = Path(path)
    if p.is_dir():
        raise ValueError(f"{flag} {p} is a folder: pass the model file inside it (MODEL.onnx)")
    if not p.exists():
        raise FileNotFoundError(f"{flag} {p}: model file not found")
    if p.suffix.lower() == ".pt":
        raise ValueError(f"{flag} {p} is a training checkpoint: export it first "
                         f"(scrapl-live export {p} -o {p.with_suffix('.onnx')}) and pass the .onnx file")
    if p.suffix.lower() != ".onnx":
        raise ValueError(f"{flag} {p}: expected an exported encoder (.onnx with its .json card beside it)")
    return p
