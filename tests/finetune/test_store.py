"""Capture store: round trip, silence/duplicate skipping, size cap policies, corruption, kill -9 safety."""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from scrapl_live.finetune.store import CaptureStore, content_hash


def _hit(seed: int, n: int = 4096, level: float = 0.1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level * rng.standard_normal(n) * np.exp(-np.arange(n) / 800)).astype(np.float32)


def test_round_trip_and_stats(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path / "cap", max_bytes=None)
    written = []
    for i in range(3):
        theta = np.linspace(0, 1, 5, dtype=np.float32) * (i + 1) / 3
        meta = {"source": f"take{i}.wav", "onset_s": 0.5 * i, "model": "tr808"}
        written.append((store.add(_hit(i), 48000, theta, meta), theta, meta))
    store.add(_hit(9), 44100)  # no prediction (finetune add without a model)
    got = list(store.samples())
    assert [s.path for s in got[:3]] == [p for p, _, _ in written]  # oldest first
    for s, (_path, theta, meta), i in zip(got, written, range(3), strict=False):
        np.testing.assert_array_equal(s.audio, _hit(i))
        np.testing.assert_array_equal(s.theta, theta)
        assert s.sample_rate == 48000 and s.meta == meta and s.audio.dtype == np.float32
    assert got[3].theta is None and got[3].sample_rate == 44100 and got[3].meta == {}
    stats = store.stats()
    assert stats.count == len(store) == 4 and stats.temp_files == 0
    assert stats.bytes == sum(p.stat().st_size for p in (tmp_path / "cap").iterdir())


def test_silence_and_duplicates_skipped(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path, silence_db=-60.0)
    assert store.add(np.zeros(4096, np.float32), 48000) is None
    assert store.add(_hit(0, level=10 ** (-75 / 20)), 48000) is None  # ~ -80 dBFS RMS
    quiet = _hit(1, level=10 ** (-40 / 20))  # ~ -45 dBFS RMS: a soft hit, kept
    assert store.add(quiet, 48000) is not None
    assert store.add(quiet.copy(), 48000, np.array([0.3], np.float32)) is None  # same audio, other θ̂
    assert CaptureStore(tmp_path).add(quiet, 48000) is None  # another instance (process) sees it too
    assert store.add(quiet, 44100) is not None  # same samples at another rate: a different sound
    assert len(store) == 2
    assert content_hash(quiet, 48000) != content_hash(quiet, 44100)


def test_cap_drop_oldest(tmp_path: Path) -> None:
    probe = CaptureStore(tmp_path / "probe", max_bytes=None)
    size = probe.add(_hit(0), 48000).stat().st_size
    store = CaptureStore(tmp_path / "cap", max_bytes=int(3.5 * size), policy="drop-oldest")
    for i in range(6):
        assert store.add(_hit(i), 48000) is not None
    kept = list(store.samples())
    assert len(kept) == 3 and store.stats().bytes <= int(3.5 * size)
    for s, i in zip(kept, (3, 4, 5), strict=True):  # the three newest survive
        np.testing.assert_array_equal(s.audio, _hit(i))


def test_cap_refuse(tmp_path: Path) -> None:
    probe = CaptureStore(tmp_path / "probe", max_bytes=None)
    size = probe.add(_hit(0), 48000).stat().st_size
    store = CaptureStore(tmp_path / "cap", max_bytes=int(2.5 * size), policy="refuse")
    results = [store.add(_hit(i), 48000) for i in range(4)]
    assert [r is not None for r in results] == [True, True, False, False]
    assert [s.path for s in store.samples()] == results[:2]  # the earlier samples are untouched
    assert CaptureStore(tmp_path / "tiny", max_bytes=size // 2).add(_hit(0), 48000) is None  # too big


def test_corrupt_files_skipped_and_dead_temp_files_removed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = CaptureStore(tmp_path, max_bytes=None)
    paths = [store.add(_hit(i), 48000, np.array([0.5], np.float32)) for i in range(4)]
    data = paths[0].read_bytes()
    paths[0].write_bytes(data[: len(data) // 2])  # truncated
    damaged = bytearray(paths[1].read_bytes())
    damaged[200] ^= 0xFF  # a flipped bit inside the audio
    paths[1].write_bytes(bytes(damaged))
    (tmp_path / f"{0:020d}-{'0' * 16}.npz").write_bytes(b"not a zip")
    # temp files: one of a dead writer (pid that cannot exist), one of a live process (our parent)
    name = f"{1:020d}-{'f' * 16}.npz"  # temp names of scrapl_live.atomic.write_atomic
    dead = tmp_path / f".{name}.{2**22 + 12345}-{'a' * 8}.tmp"
    live = tmp_path / f".{name}.{os.getppid()}-{'b' * 8}.tmp"
    dead.write_bytes(b"partial")
    live.write_bytes(b"in progress")
    with caplog.at_level(logging.WARNING, logger="scrapl_live.finetune.store"):
        reopened = CaptureStore(tmp_path, max_bytes=None)
        good = list(reopened.samples())
    assert [s.path for s in good] == paths[2:]
    assert sum("corrupt" in r.getMessage() for r in caplog.records) == 3
    assert not dead.exists() and live.exists()
    assert reopened.stats().temp_files == 1


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"audio": np.array([0.1, np.nan], np.float32)}, "audio"),
        ({"audio": np.zeros((2, 100), np.float32)}, "audio"),
        ({"audio": np.ones(100, np.int16)}, "audio"),
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": 48000.0}, "sample_rate"),
        ({"theta": np.array([0.2, 1.5])}, "theta"),
        ({"theta": np.array([[0.2]])}, "theta"),
        ({"meta": {"x": object()}}, "meta"),
        ({"meta": ["not", "a", "dict"]}, "meta"),
    ],
)
def test_bad_input(tmp_path: Path, kwargs: dict, name: str) -> None:
    args = {"audio": _hit(0), "sample_rate": 48000, "theta": None, "meta": None} | kwargs
    with pytest.raises(ValueError, match=name):
        CaptureStore(tmp_path).add(**args)


def test_bad_store_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="policy"):
        CaptureStore(tmp_path, policy="drop-newest")
    with pytest.raises(ValueError, match="max_bytes"):
        CaptureStore(tmp_path, max_bytes=-1)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="root"):
        CaptureStore(tmp_path / "file")


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    from scrapl_live.finetune.store import CaptureStore

    store = CaptureStore(sys.argv[1], max_bytes=None)
    rng = np.random.default_rng(int(sys.argv[2]))
    print("ready", flush=True)
    while True:
        n = int(rng.integers(2048, 16384))
        path = store.add((0.1 * rng.standard_normal(n)).astype(np.float32), 48000,
                         rng.uniform(size=6).astype(np.float32), {"n": n})
        print(path, flush=True)
""")


def test_kill_9_loses_nothing_and_leaves_no_corrupt_file(tmp_path: Path) -> None:
    root = tmp_path / "cap"
    rng = random.Random(0)
    reported: list[Path] = []
    rounds = 4
    for r in range(rounds):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(root), str(r)], stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdout.readline().strip() == "ready"
        try:
            proc.wait(timeout=rng.uniform(0.05, 0.6))  # the writer loops forever: this always times out
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        reported += [Path(line.strip()) for line in proc.stdout if line.endswith("\n")]
        proc.stdout.close()
    assert len(reported) > rounds  # the writers did write
    store = CaptureStore(root, max_bytes=None)  # removes the dead writers' temp files
    names = sorted(p.name for p in root.iterdir())
    assert not any(n.startswith(".tmp-") for n in names)
    loaded = list(store.samples())
    # every file in the store loads; every sample acknowledged before a kill is there
    assert len(loaded) == len(names) == store.stats().count
    assert set(reported) <= {s.path for s in loaded}
    # at most one sample per kill was renamed into place but not yet acknowledged
    assert len(reported) <= len(loaded) <= len(reported) + rounds
    for s in loaded:
        assert s.meta["n"] == len(s.audio) and s.theta.shape == (6,)


def test_refined_theta_round_trip_and_old_files(tmp_path: Path) -> None:
    store = CaptureStore(tmp_path)
    audio = np.sin(np.arange(4000) / 7.0).astype(np.float32)
    theta, refined = np.full(14, 0.25, np.float32), np.linspace(0, 1, 14, dtype=np.float32)
    path = store.add(audio, 44100, theta, {"label": "kick"})
    assert store.load(path).theta_refined is None
    store.set_refined(path, refined)
    s = store.load(path)
    assert np.array_equal(s.theta_refined, refined) and np.array_equal(s.theta, theta)
    assert s.meta == {"label": "kick"} and np.array_equal(s.audio, audio) and len(store) == 1
    with pytest.raises(ValueError, match="theta_refined"):
        store.set_refined(path, np.full(14, 2.0))
    old = tmp_path / "old"  # a file written before the field existed still loads
    old.mkdir()
    other = CaptureStore(old)
    p2 = other.add(audio * 0.5, 44100, theta)
    with np.load(p2) as z:
        keep = {k: z[k] for k in z.files if k != "theta_refined"}
    np.savez(p2.with_suffix(""), **keep)  # np.savez appends .npz: the same name again
    assert "theta_refined" not in np.load(p2).files and other.load(p2).theta_refined is None
    p3 = other.add(audio * 0.25, 44100, theta, theta_refined=refined)
    assert np.array_equal(other.load(p3).theta_refined, refined)
