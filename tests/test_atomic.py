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


def test_staged_renames_only_a_completed_block(tmp_path: Path) -> None:
    from scrapl_live.atomic import staged

    path = tmp_path / "out.wav"
    path.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), staged(path) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".wav" and tmp != path
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle of the work
    assert path.read_bytes() == b"old" and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
    with pytest.raises(FileNotFoundError, match="out.wav was not written"), staged(path):
        pass  # a writer that failed quietly
    assert path.read_bytes() == b"old"
    with staged(path) as tmp:
        tmp.write_bytes(b"new")
    assert path.read_bytes() == b"new" and sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]
