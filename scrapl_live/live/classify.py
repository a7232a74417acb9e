"""Drum-class head at run time (onnxruntime, no torch): a hit's first samples → (class, confidence).

The exported head (``scrapl-live train-classifier``) is an ONNX file with a JSON card beside it (same
stem): classes, sample rate, window (samples from the onset), SHA-256 of the ONNX file and the
held-out accuracies it was measured at.  The engine calls :meth:`DrumClassifier.classify` on each hit's
first window, so the class (which picks the MIDI note) goes out with the hit's first prediction.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

CARD_FORMAT = "scrapl-live-drumclass/1"
INPUT_NAME, OUTPUT_NAME = "audio", "probs"
CLASSES: tuple[str, ...] = ("kick", "snare", "tom", "closed_hat", "open_hat", "cymbal", "clap", "other")


def card_path(path: str | Path) -> Path:
    """The card beside a classifier's ``.onnx`` file."""
    return Path(path).with_suffix(".json")


class DrumClassifier:
    """A loaded drum-class head. ``window``: samples it reads at ``sample_rate`` from the hit's onset."""

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        from scrapl_live.encoder.card import file_sha256, ort_session

        self.path = Path(path)
        cpath = card_path(self.path)
        if not self.path.is_file():
            raise FileNotFoundError(f"classifier not found: {self.path}")
        if not cpath.is_file():
            raise FileNotFoundError(f"classifier card not found: {cpath} (export with `train-classifier`)")
        try:
            card: dict[str, Any] = json.loads(cpath.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"classifier card {cpath} is not valid JSON: {exc}") from exc
        if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
            raise ValueError(f"{cpath} is not a {CARD_FORMAT} card")
        if tuple(card.get("classes", ())) != CLASSES:
            raise ValueError(f"classifier {self.path}: classes {card.get('classes')} are not {list(CLASSES)}")
        if file_sha256(self.path) != card.get("onnx", {}).get("sha256"):
            raise ValueError(f"classifier {self.path} does not match its card (SHA-256 differs): re-export")
        self.card = card
        self.sample_rate, self.window = int(card["sample_rate"]), int(card["window"])
        try:
            self._session = ort_session(self.path, threads)
        except ModuleNotFoundError:  # onnxruntime itself is missing: the CLI names the extra to install
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for broken graphs
            raise ValueError(f"onnxruntime cannot load classifier {self.path}: {exc}") from exc
        self._batch = np.zeros((1, self.window), np.float32)
        self.classify(np.zeros(self.window, np.float32), self.sample_rate)  # warm-up: first call allocates

    def window_at(self, sample_rate: int) -> int:
        """Samples of input at ``sample_rate`` covering the head's window."""
        return math.ceil(self.window * sample_rate / self.sample_rate)

    def probabilities(self, window: np.ndarray, sample_rate: int) -> np.ndarray:
        """Class probabilities (len(CLASSES),) of a hit's first samples (N,) at ``sample_rate``.

        Resampled to the head's rate; shorter input is zero-padded, longer cut to the window.
        """
        x = np.asarray(window, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate:
            from scrapl_live.audio import resample

            x = resample(x, sample_rate, self.sample_rate)
        n = min(x.size, self.window)
        self._batch[0, :n] = np.nan_to_num(x[:n], nan=0.0, posinf=0.0, neginf=0.0)
        self._batch[0, n:] = 0.0
        return self._session.run([OUTPUT_NAME], {INPUT_NAME: self._batch})[0][0]

    def classify(self, window: np.ndarray, sample_rate: int) -> tuple[str, float]:
        """(class, confidence in [0, 1]) of a hit's first samples (N,) at ``sample_rate``."""
        p = self.probabilities(window, sample_rate)
        i = int(np.argmax(p))
        return CLASSES[i], float(p[i])


def load_classifier(path: str | Path, threads: int = 1) -> DrumClassifier:
    """Open, check and warm a drum-class head (FileNotFoundError / ValueError with the reason)."""
    return DrumClassifier(path, threads)


def classifier_for(model: Any, threads: int = 1) -> DrumClassifier | None:
    """The drum-class head a model card names under ``"classifier"`` (a path relative to the card), or None.

    model: a ``LoadedModel`` (its ``encoder.card`` and ``path``). A named head that is missing or
    broken is a ValueError naming both files.
    """
    card = getattr(getattr(model, "encoder", None), "card", None) or {}
    name = card.get("classifier")
    if not name:
        return None
    path = Path(model.path).parent / str(name)
    try:
        return load_classifier(path, threads)
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"model {model.path} names classifier {path}, which cannot be used: {exc}") from exc
