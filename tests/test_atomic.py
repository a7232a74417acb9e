"""Crash-safe writes: the destination holds the old or the new content, never a torn one, no temp left."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapl_live.atomic import write_atomic


def test_creates_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "f.bin"
    assert write_atomic(path, lambda f: f.write(b"one")) == path
    write_atomic(path, lambda f: f.write(b"two"))
    assert path.read_bytes() == b"two"
    assert sorted(p.name for p in path.parent.iterdir()) == ["f.bin"]


def test_failing_writer_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"old")

    def half_then_crash(f) -> None:  # noqa: ANN001 - a binary file object
        f.write(b"ne")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomic(path, half_then_crash)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]
