"""Crash-safe file writes: a reader (or a restart after ``kill -9``) sees the old file or the new one.

The content goes to a temp file in the destination folder, is fsynced, renamed over the destination
(``os.replace`` is atomic on POSIX) and the folder is fsynced so the rename itself survives a power cut.
Temp names start with ``.{name}.`` and end in ``.tmp``, so a folder's owner can sweep leftovers of
killed writers with ``Path.glob(f".{name}.*.tmp")``.

:func:`staged` does the same for a writer that takes a path (a MIDI sink, a long file render): it
writes a temp path that keeps the extension, and only a block that completes renames it into place,
so an error or Ctrl-C on the way leaves the destination as it was.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def write_atomic(path: str | Path, write: Callable[[BinaryIO], object]) -> Path:
    """Create or replace ``path`` with what ``write(file)`` writes to a binary file object."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)
    return path


def _temp_name(path: Path, suffix: str = "") -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp{suffix}")


@contextmanager
def staged(path: str | Path) -> Iterator[Path]:
    """Yield a temp path beside ``path`` (same extension); rename it over ``path`` if the block completes.

    Raises FileNotFoundError when the block completed without writing the temp file (a writer that
    logged its failure instead of raising); the temp file never outlives the block.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_name(path, path.suffix)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"{path} was not written")
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_dir(folder: str | Path) -> None:
    """Make renames and deletions inside ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
