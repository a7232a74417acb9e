"""Capture store: the user's hits (audio + predicted θ̂ + metadata) for background fine-tuning.

One ``.npz`` file per sample, named ``<created ns>-<content hash>.npz`` so that names sort by age and
duplicates are found from the names alone. A write goes to a hidden temp file in the same folder,
is fsynced, then renamed over its final name (``os.replace`` is atomic), and the folder is fsynced:
a crash or ``kill -9`` at any moment leaves either the complete sample or no sample, never a partial
one, and never touches earlier samples. Temp files of writers that died are removed on open.

Skipped: silence (RMS below ``silence_db`` dBFS) and exact duplicates (same audio and sample rate).
Size cap ``max_bytes`` (sum of sample files) with a policy: ``"drop-oldest"`` writes the new sample,
then deletes the oldest ones until the store fits again; ``"refuse"`` keeps the store as it is and
skips the new sample. A single sample larger than the cap is always refused.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.atomic import write_atomic

log = logging.getLogger(__name__)

POLICIES = ("drop-oldest", "refuse")
_SAMPLE = re.compile(r"^(\d{20})-([0-9a-f]{16})\.npz$")
_TEMP = re.compile(r"^\.\d{20}-[0-9a-f]{16}\.npz\.(\d+)-[0-9a-f]{8}\.tmp$")  # scrapl_live.atomic's temp names


@dataclass(frozen=True)
class CaptureSample:
    """One stored sample: audio (N,) float32 at ``sample_rate``, θ̂ (U,) float32 or None, metadata, and
    the refined θ (U,) of the hit (:mod:`scrapl_live.refine`) or None (files written without one too)."""

    path: Path
    audio: np.ndarray
    sample_rate: int
    theta: np.ndarray | None
    meta: dict[str, Any]
    created_ns: int
    theta_refined: np.ndarray | None = None


@dataclass(frozen=True)
class StoreStats:
    """Sample count and bytes on disk, the cap and its policy, and the temp files now present."""

    count: int
    bytes: int
    max_bytes: int | None
    policy: str
    temp_files: int


def content_hash(audio: np.ndarray, sample_rate: int) -> str:
    """16 hex digits of SHA-256 over the float32 samples and the sample rate (duplicate detection)."""
    h = hashlib.sha256(np.ascontiguousarray(audio, dtype=np.float32).tobytes())
    h.update(int(sample_rate).to_bytes(8, "little"))
    return h.hexdigest()[:16]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class CaptureStore:
    """A folder of captured samples; safe against crashes, shared by several processes.

    ``max_bytes``: cap on the sum of sample files (None: no cap); ``policy``: ``"drop-oldest"`` or
    ``"refuse"``; ``silence_db``: samples with a lower RMS level (dBFS) are skipped.
    """

    def __init__(
        self,
        root: str | Path,
        max_bytes: int | None = 1 << 30,
        policy: str = "drop-oldest",
        silence_db: float = -60.0,
    ) -> None:
        if policy not in POLICIES:
            raise ValueError(f"policy must be one of {POLICIES}, got {policy!r}")
        if max_bytes is not None and (isinstance(max_bytes, bool) or not isinstance(max_bytes, int)
                                      or max_bytes <= 0):
            raise ValueError(f"max_bytes must be a positive int or None, got {max_bytes!r}")
        if not np.isfinite(silence_db):
            raise ValueError(f"silence_db must be finite, got {silence_db}")
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise ValueError(f"root: {self.root} exists and is not a folder")
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.policy, self.silence_db = max_bytes, policy, float(silence_db)
        self._lock = threading.Lock()
        self._remove_dead_temp_files()

    # ----------------------------------------------------------------------------------------- listing
    def _entries(self) -> list[tuple[str, int]]:
        """(file name, size) of every sample file, oldest first."""
        out = []
        with os.scandir(self.root) as it:
            for e in it:
                if _SAMPLE.match(e.name):
                    try:
                        out.append((e.name, e.stat().st_size))
                    except FileNotFoundError:  # deleted by another process meanwhile
                        continue
        return sorted(out)

    def _temp_files(self) -> list[Path]:
        return [p for p in self.root.iterdir() if _TEMP.match(p.name)]

    def _remove_dead_temp_files(self) -> None:
        """Delete temp files left by writers that no longer run (killed mid-write)."""
        for p in self._temp_files():
            pid = int(_TEMP.match(p.name).group(1))
            if pid != os.getpid() and not _pid_alive(pid):
                p.unlink(missing_ok=True)
                log.info("removed %s, left by an interrupted write", p.name)

    def __len__(self) -> int:
        return len(self._entries())

    def stats(self) -> StoreStats:
        """Count and total size of the samples (from the folder listing, no file is read)."""
        entries = self._entries()
        return StoreStats(len(entries), sum(s for _, s in entries), self.max_bytes, self.policy,
                          len(self._temp_files()))

    # ----------------------------------------------------------------------------------------- writing
    @staticmethod
    def _theta(theta: Any, name: str = "theta") -> np.ndarray:
        th = np.zeros(0, np.float32) if theta is None else np.asarray(theta, dtype=np.float32)
        if th.ndim != 1 or not np.isfinite(th).all() or (th.size and (th.min() < 0 or th.max() > 1)):
            raise ValueError(f"{name} must be None or a finite (U,) vector in [0, 1], got {theta!r}")
        return th

    @classmethod
    def _validate(
        cls, audio: Any, sample_rate: Any, theta: Any, meta: Any
    ) -> tuple[np.ndarray, np.ndarray, str]:
        if not isinstance(audio, np.ndarray) or not np.issubdtype(audio.dtype, np.floating):
            raise ValueError(f"audio must be a float numpy array, got {type(audio).__name__} "
                             f"{getattr(audio, 'dtype', '')}")
        if audio.ndim != 1 or audio.size == 0:
            raise ValueError(f"audio must be mono with shape (N,), N >= 1, got {audio.shape}")
        if not np.isfinite(audio).all():
            raise ValueError("audio contains NaN or infinite values")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer) or sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive int, got {sample_rate!r}")
        th = cls._theta(theta)
        if meta is not None and not isinstance(meta, dict):
            raise ValueError(f"meta must be a dict, got {type(meta).__name__}")
        try:
            meta_json = json.dumps({} if meta is None else meta, sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"meta must be JSON-serialisable: {exc}") from exc
        return audio.astype(np.float32), th, meta_json

    def add(
        self,
        audio: np.ndarray,
        sample_rate: int,
        theta: np.ndarray | None = None,
        meta: dict[str, Any] | None = None,
        theta_refined: np.ndarray | None = None,
    ) -> Path | None:
        """Store one sample; returns its path, or None when skipped (silence, duplicate, cap).

        audio: (N,) float mono; theta: (U,) in [0, 1] or None (no prediction); meta: JSON-able dict;
        theta_refined: (U,) in [0, 1] or None (see also :meth:`set_refined`).
        """
        audio32, th, meta_json = self._validate(audio, sample_rate, theta, meta)
        refined = self._theta(theta_refined, "theta_refined")
        rms = float(np.sqrt(np.mean(np.square(audio32, dtype=np.float64))))
        if rms <= 10 ** (self.silence_db / 20):
            log.debug("skipped a silent sample (RMS %.1f dBFS)", 20 * np.log10(max(rms, 1e-300)))
            return None
        digest = content_hash(audio32, int(sample_rate))
        created = time.time_ns()
        buf = io.BytesIO()
        np.savez(buf, audio=audio32, sample_rate=np.int64(sample_rate), theta=th, meta=np.array(meta_json),
                 created_ns=np.int64(created), theta_refined=refined)
        data = buf.getvalue()
        with self._lock:
            entries = self._entries()
            if any(_SAMPLE.match(name).group(2) == digest for name, _ in entries):
                log.debug("skipped a duplicate sample (%s)", digest)
                return None
            if self.max_bytes is not None:
                total = sum(s for _, s in entries)
                over = total + len(data) > self.max_bytes
                if len(data) > self.max_bytes or (self.policy == "refuse" and over):
                    log.warning("capture store %s is full (%d of %d bytes): sample refused",
                                self.root, total, self.max_bytes)
                    return None
            path = self.root / f"{created:020d}-{digest}.npz"
            write_atomic(path, lambda f: f.write(data))
            if self.max_bytes is not None and self.policy == "drop-oldest":
                self._drop_oldest(keep=path.name)
        return path

    def _drop_oldest(self, keep: str) -> None:
        entries = self._entries()
        total = sum(s for _, s in entries)
        for name, size in entries:
            if total <= self.max_bytes:
                break
            if name == keep:
                continue
            (self.root / name).unlink(missing_ok=True)
            total -= size
            log.info("capture store over its cap: dropped the oldest sample %s", name)

    # ----------------------------------------------------------------------------------------- reading
    def load(self, path: str | Path) -> CaptureSample:
        """Read one sample file; ValueError if it is corrupt (bad zip/CRC, missing keys, wrong hash)."""
        path = Path(path)
        m = _SAMPLE.match(path.name)
        if m is None:
            raise ValueError(f"path: {path.name} is not a capture sample file name")
        try:
            with np.load(path, allow_pickle=False) as z:
                audio, sr = z["audio"], int(z["sample_rate"])
                theta, meta, created = z["theta"], json.loads(str(z["meta"])), int(z["created_ns"])
                refined = z["theta_refined"] if "theta_refined" in z.files else np.zeros(0, np.float32)
        except (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile) as exc:
            if isinstance(exc, FileNotFoundError):
                raise
            raise ValueError(f"capture sample {path} is corrupt: {exc}") from exc
        if content_hash(audio, sr) != m.group(2):
            raise ValueError(f"capture sample {path} is corrupt: content does not match its hash")
        return CaptureSample(path, audio, sr, theta if theta.size else None, meta, created,
                             refined if refined.size else None)

    def set_refined(self, path: str | Path, theta_refined: np.ndarray) -> None:
        """Record the refined θ (U,) of a stored sample (atomic rewrite; the name and hash stay)."""
        refined = self._theta(theta_refined, "theta_refined")
        s = self.load(path)
        buf = io.BytesIO()
        np.savez(buf, audio=s.audio, sample_rate=np.int64(s.sample_rate),
                 theta=np.zeros(0, np.float32) if s.theta is None else s.theta,
                 meta=np.array(json.dumps(s.meta, sort_keys=True)), created_ns=np.int64(s.created_ns),
                 theta_refined=refined)
        with self._lock:
            write_atomic(s.path, lambda f: f.write(buf.getvalue()))

    def samples(self) -> Iterator[CaptureSample]:
        """Every valid sample, oldest first; corrupt files are logged and skipped."""
        for name, _ in self._entries():
            try:
                yield self.load(self.root / name)
            except FileNotFoundError:  # dropped by another process while we iterate
                continue
            except ValueError as exc:
                log.warning("skipping %s", exc)
