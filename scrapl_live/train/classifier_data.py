"""Training material of the drum-class head: labelled one-shots by kit, and the windows a detector sees.

Corpora are manifest folders: ``scrapl-live data drums``'s (format ``scrapl-live-drums/1``: every file
has its ``class`` and a kit-wise ``split`` of train / val / test) or ``scrapl-live data hydrogen``'s
(instrument names only: the class comes from :func:`scrapl_live.train.drumlabels.label`, and validation
kits are named by the caller).  Test kits are never trained on and never used to choose.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scrapl_live.live.classify import CLASSES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OneShot:
    """One labelled one-shot: its file, kit, split ("train" / "val" / "test") and class."""

    path: Path
    kit: str
    split: str
    label: str


def corpus_items(root: str | Path, val_kits: tuple[str, ...] = ()) -> list[OneShot]:
    """The labelled one-shots of a manifest folder; ``val_kits`` move training kits to "val"."""
    from scrapl_live.train.drumlabels import label

    root = Path(root)
    manifest = root / "manifest.json"
    if not manifest.is_file():
        raise FileNotFoundError(f"no manifest.json in {root} (make one with `scrapl-live data drums {root}`)")
    items = []
    for f in json.loads(manifest.read_text()).get("files", []):
        cls = f.get("class") or label(f.get("instrument") or "", Path(f["path"]).name)
        if cls not in CLASSES:
            raise ValueError(f"{manifest}: {f['path']} has class {cls!r}, not one of {list(CLASSES)}")
        kit = f"{f['source']}/{f['kit']}" if "source" in f else str(f["kit"])
        split = str(f.get("split", "train"))
        if split == "train" and (kit in val_kits or str(f["kit"]) in val_kits):
            split = "val"
        items.append(OneShot(root / f["path"], kit, split, cls))
    return items


def load_head(path: Path, sample_rate: int, n: int) -> np.ndarray | None:
    """The one-shot from its attack: mono at ``sample_rate``, leading silence cut, first ``n`` samples.

    The attack starts at the first sample above -40 dB of the peak (where an onset detector fires).
    Returns None for a silent or undecodable file.
    """
    from scrapl_live.audio import load_audio

    try:
        audio, _ = load_audio(path, sample_rate=sample_rate, warn_clipped=False)
    except (ValueError, RuntimeError, OSError) as exc:
        log.warning("skipping %s: %s", path, exc)
        return None
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak <= 1e-5:
        return None
    start = int(np.argmax(np.abs(audio) >= 0.01 * peak))
    head = audio[start : start + n].astype(np.float32)
    return np.pad(head, (0, n - head.size))


def load_items(items: list[OneShot], sample_rate: int, n: int) -> tuple[list[np.ndarray], list[OneShot]]:
    """Heads (n,) of every decodable item, with the items they came from."""
    from scrapl_live.audio import clipped_samples

    heads, kept = [], []
    for item in items:
        head = load_head(item.path, sample_rate, n)
        if head is not None:
            heads.append(head)
            kept.append(item)
    clipped = sum(clipped_samples(h) > 0 for h in heads)
    if clipped:
        log.info("%d of %d one-shots reach full scale (clipped); used as they are", clipped, len(heads))
    return heads, kept


EQ_DB = 6.0
"""Largest gain of the random equaliser (dB): a tilt of up to ±EQ_DB/3 dB per octave around 1 kHz and
one bell of up to ±EQ_DB (chosen on the validation kits, see docs/results.md "Drum classes")."""


def augment(heads: list[np.ndarray], labels: np.ndarray, n: int, copies: int, rng: np.random.Generator,
            sample_rate: int, background: float = 0.6, eq_db: float = EQ_DB) -> tuple[np.ndarray, np.ndarray]:
    """``copies`` varied windows (n,) per head, as a detector would hand them to the classifier.

    Each copy: speed ×[0.92, 1.08] (pitch and decay), onset jitter of -32..+96 samples (early: a little
    silence first; late: the attack is cut), with probability ``background`` the tail of another
    one-shot (30-500 ms after its attack, peak 0.05-1.5× the hit's) underneath — a hat struck over a
    ringing kick keeps its own label — a noise floor 35-70 dB down, and a random equaliser
    (:func:`random_eq`: another microphone, room or mixing chain).  heads: one-shots from their attack
    at ``sample_rate``, each at least 0.5 s + 1.1·(n + 96) long; labels (H,) int.
    Returns windows (H·copies, n) float32 and their labels.
    """
    out = np.zeros((len(heads) * copies, n), np.float32)
    for i, head in enumerate(heads):
        for c in range(copies):
            pos = np.arange(n + 96) * rng.uniform(0.92, 1.08)
            x = np.interp(pos, np.arange(head.size), head, right=0.0).astype(np.float32)
            shift = int(rng.integers(-32, 97))
            x = np.concatenate([np.zeros(-shift, np.float32), x])[:n] if shift < 0 else x[shift : shift + n]
            peak = max(float(np.max(np.abs(x))), 1e-6)
            if rng.random() < background:
                other = heads[int(rng.integers(len(heads)))]
                start = int(rng.uniform(0.03, 0.5) * sample_rate)
                tail = other[start : start + n]
                tail_peak = float(np.max(np.abs(tail)))
                if tail_peak > 1e-6:
                    x = x + tail * (np.exp(rng.uniform(np.log(0.05), np.log(1.5))) * peak / tail_peak)
            noise_db = rng.uniform(-70.0, -35.0)
            x = x + rng.standard_normal(n).astype(np.float32) * (peak * 10 ** (noise_db / 20))
            out[i * copies + c] = x
    return random_eq(out, rng, sample_rate, eq_db), np.repeat(labels, copies)


def random_eq(windows: np.ndarray, rng: np.random.Generator, sample_rate: int, max_db: float,
              chunk: int = 4096) -> np.ndarray:
    """Each window (M, n) through its own zero-phase equaliser: gain in dB = tilt·log2(f / 1 kHz) + a bell
    of ±max_db at 250 Hz..16 kHz, 0.5-2 octaves wide (tilt within ±max_db/3 dB per octave).  Applied in
    the frequency domain with 2n points (no wrap-around of the filter's tail).  Returns (M, n) float32."""
    if max_db <= 0:
        return windows
    m, n = windows.shape
    octaves = np.log2(np.maximum(np.fft.rfftfreq(2 * n, 1 / sample_rate), 20.0) / 1000.0)[None]
    tilt = rng.uniform(-max_db, max_db, (m, 1)) / 3
    centre, width = rng.uniform(-2, 4, (m, 1)), rng.uniform(0.5, 2, (m, 1))
    bell = rng.uniform(-max_db, max_db, (m, 1))
    out = np.empty_like(windows, dtype=np.float32)
    for i in range(0, m, chunk):  # bounded memory for large sets
        j = slice(i, i + chunk)
        db = tilt[j] * octaves + bell[j] * np.exp(-0.5 * ((octaves - centre[j]) / width[j]) ** 2)
        spec = np.fft.rfft(windows[j], n=2 * n, axis=1) * 10 ** (db / 20)
        out[j] = np.fft.irfft(spec, n=2 * n, axis=1)[:, :n]
    return out
