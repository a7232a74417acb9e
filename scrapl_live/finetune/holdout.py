"""The user's samples as fine-tuning data: read the capture store, skip bad files, split by content hash.

Every sample file is read and checked; a file that cannot be used (corrupt archive, content that does
not match its hash, a foreign name, non-finite or silent audio) is skipped with a logged reason and
listed in :attr:`UserData.skipped`. Audio is resampled to the synth's rate and cut or zero-padded to
its ``n_samples`` (hits are stored aligned at their onset, as the encoder sees them live); the stored
length is kept, so that the resynthesis can be compared over the captured span only (a 0.5 s capture
of a 1 s decay must not be matched against silence).

The held-out metric scores the windows the live hit mode plays (:func:`scored_windows`): a multi-window
encoder's first window W₀ and its longest (an export must also be no worse at W₀, see the worker).

Held-out split: a sample is held out when the first 8 hex digits of its content hash, read as a
fraction of 2^32, fall below ``holdout_frac``. The split depends on the audio alone — not on file
names, order or what else is in the store — so a sample never moves between the halves as the store
grows. With fewer than one sample on a side, the sample with the lowest hash value is held out.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from scrapl_live.finetune.store import CaptureStore, content_hash

log = logging.getLogger(__name__)

MIN_SAMPLES = 256
"""Shorter captures carry too little of a hit to match (6 ms at 44.1 kHz)."""
FIRST_WINDOW = 256
"""The live hit mode's default first window W₀ (samples at the model's rate; ``HitMode(first_window)``)."""


def scored_windows(windows: tuple[int, ...]) -> tuple[int, ...]:
    """Input lengths the held-out metric scores, ascending: W₀ (:data:`FIRST_WINDOW` clipped into the
    encoder's ``windows[0]..windows[-1]``) and the longest window; a single-window encoder: its window."""
    first = min(max(FIRST_WINDOW, windows[0]), windows[-1])
    return tuple(sorted({first, windows[-1]}))


def hash_fraction(digest: str) -> float:
    """The content hash's first 8 hex digits as a fraction in [0, 1)."""
    return int(digest[:8], 16) / 2**32


@dataclass
class UserData:
    """Training and held-out targets (n, 1, N) float32, their captured lengths (n,) int64, their content
    hashes, and the skipped files with reasons."""

    train: torch.Tensor
    heldout: torch.Tensor
    train_len: torch.Tensor
    heldout_len: torch.Tensor
    train_hashes: list[str] = field(default_factory=list)
    heldout_hashes: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def heldout_key(self) -> str:
        """Identity of the held-out set (metrics are only comparable under the same key)."""
        return hashlib.sha256(",".join(sorted(self.heldout_hashes)).encode()).hexdigest()[:16]


def span_mask(lengths: torch.Tensor, n_samples: int) -> torch.Tensor:
    """(n, 1, N) float mask: 1 on each sample's captured span, 0 after it. lengths: (n,) int64."""
    return (torch.arange(n_samples) < lengths[:, None]).to(torch.float32)[:, None]


def _fit(audio: np.ndarray, sr: int, sample_rate: int, n_samples: int) -> np.ndarray:
    """Resample (N,) to ``sample_rate`` and cut to ``n_samples`` (not padded)."""
    from scrapl_live.audio import resample

    return resample(audio, sr, sample_rate)[:n_samples]


def read_user_data(
    store_dir: str | Path, sample_rate: int, n_samples: int, holdout_frac: float = 0.25,
    silence_db: float = -60.0,
) -> UserData:
    """Read every usable sample of the store at ``store_dir`` and split it (see the module docstring)."""
    if not 0.0 < holdout_frac < 1.0:
        raise ValueError(f"holdout_frac must be in (0, 1), got {holdout_frac}")
    root = Path(store_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"store_dir: capture store folder not found: {root}")
    store = CaptureStore(root, max_bytes=None)
    items: dict[str, np.ndarray] = {}
    skipped: dict[str, str] = {}
    for path in sorted(p for p in root.iterdir() if p.suffix == ".npz" and not p.name.startswith(".")):
        try:
            sample = store.load(path)
            x = _fit(sample.audio, sample.sample_rate, sample_rate, n_samples)
            if x.size < MIN_SAMPLES:
                raise ValueError(f"only {x.size} samples at {sample_rate} Hz (< {MIN_SAMPLES})")
            if not np.isfinite(x).all():
                raise ValueError("audio is not finite after resampling")
            if np.sqrt(np.mean(np.square(x, dtype=np.float64))) <= 10 ** (silence_db / 20):
                raise ValueError(f"silent in its first {n_samples} samples at {sample_rate} Hz")
        except FileNotFoundError:  # dropped by the store's size cap meanwhile
            continue
        except ValueError as exc:
            skipped[path.name] = str(exc)
            log.warning("fine-tune data: skipping %s: %s", path.name, exc)
            continue
        items.setdefault(content_hash(sample.audio, sample.sample_rate), x)
    digests = sorted(items)
    held = [d for d in digests if hash_fraction(d) < holdout_frac]
    if len(digests) >= 2 and (not held or len(held) == len(digests)):
        held = [min(digests, key=hash_fraction)] if not held else held[:-1]
    train = [d for d in digests if d not in held]

    def stack(keys: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        audio = torch.zeros(len(keys), 1, n_samples)
        for i, k in enumerate(keys):
            audio[i, 0, : len(items[k])] = torch.from_numpy(items[k])
        return audio, torch.tensor([len(items[k]) for k in keys], dtype=torch.int64)

    (x_train, n_train), (x_held, n_held) = stack(train), stack(held)
    return UserData(x_train, x_held, n_train, n_held, train, held, skipped)
