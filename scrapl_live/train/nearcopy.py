"""Near-copy screen: leave out one-shots that are (nearly) a sample of a reference corpus.

General-MIDI soundfonts reuse well-known drum samples (a TR-808 conga of one font is another font's),
so a corpus rendered from them could carry a held-out kit's sound into training under another kit's
name.  The screen compares each candidate with every reference one-shot of the same class: the
highest normalised cross-correlation over all lags of their first :data:`SECONDS` (mono, 44.1 kHz)
— 1.0 for a copy at any gain and offset — and leaves out those reaching the threshold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SECONDS = 0.37
"""Head of each one-shot compared (16384 samples at 44.1 kHz): the attack and early decay."""
THRESHOLD = 0.95
"""Normalised cross-correlation from which a one-shot counts as a copy."""
_SR = 44100


def _spectrum(path: Path, n: int) -> tuple[np.ndarray, float] | None:
    """(rFFT of the head zero-padded to 2n, its norm) of a one-shot, or None when it is silent."""
    from scrapl_live.audio import load_audio

    x, _ = load_audio(path, sample_rate=_SR, warn_clipped=False)
    head = np.asarray(x[:n], np.float64)
    norm = float(np.linalg.norm(head))
    return (np.fft.rfft(head, 2 * n), norm) if norm > 0 else None


def similarity(a: tuple[np.ndarray, float], b: tuple[np.ndarray, float]) -> float:
    """Highest normalised cross-correlation over all lags of two :func:`_spectrum` results."""
    return float(np.fft.irfft(a[0] * np.conj(b[0])).max() / (a[1] * b[1]))


def near_copies(candidates: list[dict], root: Path, reference: list[dict], reference_root: Path,
                threshold: float = THRESHOLD) -> dict[str, tuple[float, str]]:
    """{candidate path: (similarity, reference path)} of the manifest entries (``path``, ``class``)
    under ``root`` whose best match among same-class ``reference`` entries reaches ``threshold``."""
    n = round(SECONDS * _SR)
    refs: dict[str, list[tuple[str, tuple[np.ndarray, float]]]] = {}
    for f in reference:
        spec = _spectrum(reference_root / f["path"], n)
        if spec is not None:
            refs.setdefault(f["class"], []).append((f["path"], spec))
    found = {}
    for f in candidates:
        same = refs.get(f["class"], [])
        spec = _spectrum(root / f["path"], n) if same else None
        if spec is None:
            continue
        score, match = max((similarity(spec, s), p) for p, s in same)
        if score >= threshold:
            found[f["path"]] = (score, match)
    return found
