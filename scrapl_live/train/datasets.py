"""Training data: the paper's θ grid, uniform θ sampling for a synth, and folders of real one-shots.

Every dataset item is a dict. Synthetic items hold the true θ and a seed, and the trainer renders the
target with the synth on the fly (as the reference does); one-shot items hold target audio only.
Splits are deterministic functions of the arguments, so a run can be reproduced from its command.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

log = logging.getLogger(__name__)

SPLITS = ("train", "val", "test")
AUDIO_EXTENSIONS = (".wav", ".flac", ".mp3", ".ogg", ".aif", ".aiff")
# Fractions of the reference's 425/128/128 one-shot split.
FOLDER_SPLIT_FRACTIONS = (425 / 681, 128 / 681)


def _check_split(split: str, allowed: Sequence[str] = SPLITS) -> str:
    if split not in allowed:
        raise ValueError(f"split must be one of {tuple(allowed)}, got {split!r}")
    return split


class GridDataset(Dataset):
    """The paper's 32×32 θ grid × 5 seeds (granular texture, chirplet).

    θ values are k/(n+1), k = 1..n on each of the 2 axes. The fold of a θ pair is
    (d_idx·n + s_idx) mod 5, so all seeds of one pair share a fold and the test fold holds unseen
    pairs; folds 0-2 train, 3 val, 4 test. Row r of the full table (pair-major, seeds minor) gets
    seed ``seed_offset + r``, unique per row.
    """

    N_FOLDS = 5

    def __init__(self, split: str, n_per_axis: int = 32, n_seeds: int = 5, seed_offset: int = 0) -> None:
        _check_split(split)
        if n_per_axis < 1:
            raise ValueError(f"n_per_axis must be >= 1, got {n_per_axis}")
        if n_seeds < 1:
            raise ValueError(f"n_seeds must be >= 1, got {n_seeds}")
        folds = {"train": (0, 1, 2), "val": (3,), "test": (4,)}[split]
        thetas, seeds = [], []
        row = 0
        for d_idx in range(n_per_axis):
            for s_idx in range(n_per_axis):
                fold = (d_idx * n_per_axis + s_idx) % self.N_FOLDS
                for _ in range(n_seeds):
                    if fold in folds:
                        thetas.append(((d_idx + 1) / (n_per_axis + 1), (s_idx + 1) / (n_per_axis + 1)))
                        seeds.append(seed_offset + row)
                    row += 1
        self.split = split
        self.theta = torch.tensor(thetas, dtype=torch.float32)  # (M, 2)
        self.seed = torch.tensor(seeds, dtype=torch.int64)  # (M,)

    def __len__(self) -> int:
        return int(self.seed.numel())

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"theta": self.theta[i], "seed": self.seed[i]}


class SynthUniformDataset(Dataset):
    """θ drawn once per item for a synth with parameter specs ``params`` (tr808).

    sampling="uniform": θ ~ U[0,1]^U. sampling="log": for every parameter whose physical range is
    positive and spans ≥ 10×, the physical value is log-uniform (θ = (v - lo)/(hi - lo) with
    v = lo·(hi/lo)^u), others stay uniform — this puts more items at low frequencies / short decays,
    as a drum corpus does. Each split uses its own generator seed, so splits never share θ.
    """

    def __init__(
        self, params: Sequence, n_items: int, split: str, seed: int = 0, sampling: str = "uniform"
    ) -> None:
        _check_split(split)
        if n_items < 1:
            raise ValueError(f"n_items must be >= 1, got {n_items}")
        if sampling not in ("uniform", "log"):
            raise ValueError(f"sampling must be 'uniform' or 'log', got {sampling!r}")
        if len(params) < 1:
            raise ValueError("params must list at least one parameter spec")
        gen = torch.Generator().manual_seed(int(seed) * 3 + SPLITS.index(split))
        u = torch.rand(n_items, len(params), generator=gen, dtype=torch.float64)
        if sampling == "log":
            for j, spec in enumerate(params):
                lo, hi = float(spec.min), float(spec.max)
                if lo > 0 and hi / lo >= 10.0:
                    v = lo * (hi / lo) ** u[:, j]
                    u[:, j] = (v - lo) / (hi - lo)
        self.split = split
        self.theta = u.float()  # (M, U)
        self.seed = torch.randint(0, 2**31 - 1, (n_items,), generator=gen)  # (M,)

    def __len__(self) -> int:
        return int(self.seed.numel())

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"theta": self.theta[i], "seed": self.seed[i]}


def onset_index(audio: np.ndarray, threshold_db: float = -30.0) -> int:
    """First sample whose magnitude reaches ``threshold_db`` relative to the peak. audio: (N,)."""
    mag = np.abs(audio)
    peak = float(mag.max()) if mag.size else 0.0
    if peak <= 0.0:
        return 0
    return int(np.argmax(mag >= peak * 10.0 ** (threshold_db / 20.0)))


def prepare_one_shot(audio: np.ndarray, n_samples: int, threshold_db: float = -30.0) -> np.ndarray:
    """Onset-align, trim or zero-pad a one-shot to ``n_samples``, peak-normalise. (N,) -> (n_samples,)."""
    start = onset_index(audio, threshold_db)
    out = np.zeros(n_samples, dtype=np.float32)
    seg = audio[start : start + n_samples]
    out[: seg.size] = seg
    peak = float(np.abs(out).max())
    if peak > 0:
        out /= peak
    return out


def list_audio_files(root: str | Path) -> list[Path]:
    """Sorted audio files (WAV/FLAC/MP3/OGG, AIFF, any case) under ``root``, recursively."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder not found: {root}")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)


class OneShotFolderDataset(Dataset):
    """Real one-shots from a folder: resampled, mono, onset-aligned, trimmed/padded, peak-normalised.

    Files are sorted, shuffled with ``split_seed`` and cut 62.4/18.8/18.8 % into train/val/test
    (split="all" keeps every file, e.g. for a held-out test kit) — unless ``root`` holds a drum-corpus
    manifest (:mod:`.drumdata`, split by kit), whose splits are used. ``max_files`` keeps the first files
    of the shuffled order (deterministic). In the train split each item is delayed by a meso shift
    δ ∈ [0, ``max_shift``] samples that is re-drawn every epoch from (``split_seed``, epoch, index)
    — call :meth:`set_epoch`; val/test items are never shifted (δ = 0, micro).
    """

    def __init__(
        self,
        root: str | Path,
        sample_rate: int,
        n_samples: int,
        split: str = "all",
        split_seed: int = 0,
        max_shift: int = 0,
        max_files: int | None = None,
    ) -> None:
        from scrapl_live.audio import clipped_samples, load_audio

        _check_split(split, SPLITS + ("all",))
        if n_samples < 1:
            raise ValueError(f"n_samples must be >= 1, got {n_samples}")
        if not 0 <= max_shift < n_samples:
            raise ValueError(f"max_shift must be in [0, n_samples), got {max_shift}")
        from scrapl_live.train.drumdata import manifest_files

        listed = manifest_files(root, split)
        files = list_audio_files(root) if listed is None else listed
        if not files:
            raise ValueError(f"no WAV/FLAC/MP3/OGG/AIFF files under root={root}")
        order = torch.randperm(len(files), generator=torch.Generator().manual_seed(int(split_seed))).tolist()
        files = [files[i] for i in order]
        if split != "all" and listed is None:
            n_train = int(round(len(files) * FOLDER_SPLIT_FRACTIONS[0]))
            n_val = int(round(len(files) * FOLDER_SPLIT_FRACTIONS[1]))
            bounds = {
                "train": (0, n_train),
                "val": (n_train, n_train + n_val),
                "test": (n_train + n_val, None),
            }
            lo, hi = bounds[split]
            files = files[lo:hi]
        if max_files is not None:
            files = files[: int(max_files)]
        if not files:
            raise ValueError(f"split={split!r} of root={root} is empty")
        self.files = files
        self.split = split
        self.split_seed = int(split_seed)
        self.max_shift = int(max_shift) if split == "train" else 0
        self.epoch = 0
        shots, clipped = [], 0
        for f in files:
            x = load_audio(f, sample_rate, warn_clipped=False)[0]
            clipped += clipped_samples(x) > 0
            shots.append(prepare_one_shot(x, n_samples))
        self.audio = torch.from_numpy(np.stack(shots))  # (M, n_samples)
        log.info("loaded %d one-shots (%s) from %s%s", len(files), split, root,
                 f"; {clipped} reach full scale (clipped), used as they are" if clipped else "")

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose meso shifts :meth:`__getitem__` returns."""
        self.epoch = int(epoch)

    def shift(self, i: int) -> int:
        """Meso delay of item ``i`` in the current epoch (0 outside the train split)."""
        if self.max_shift == 0:
            return 0
        gen = torch.Generator().manual_seed(self.split_seed * 1_000_003 + self.epoch * 100_003 + int(i))
        return int(torch.randint(0, self.max_shift + 1, (1,), generator=gen))

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        x = self.audio[i]
        d = self.shift(i)
        if d:
            x = torch.cat([x.new_zeros(d), x[: x.numel() - d]])
        return {"audio": x.unsqueeze(0), "index": torch.tensor(i)}  # audio: (1, n_samples)

