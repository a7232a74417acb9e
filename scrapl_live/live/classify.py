"""Drum-class head at run time (onnxruntime, no torch): a hit's first samples → (class, confidence).

The exported head (``scrapl-live train-classifier``) is an ONNX file with a JSON card beside it (same
stem): classes, sample rate, the head windows (samples from the onset), SHA-256 of the ONNX file and
the held-out accuracies it was measured at.  The network holds one head per window: fed a hit's first
n samples (zero-padded to the longest window), it answers with the longest head whose window is at
most n, so the class is known from the first ``windows[0]`` samples on and sharpens as more is heard.
Each head runs in a session of its own, cut from the file's graph at load time (a session runs all
of its graph), so a call costs one head.
The engine calls :meth:`DrumClassifier.classify` at each prediction of a hit: the first one's class
picks the MIDI note sent with it; later ones update the label and confidence.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

CARD_FORMAT = "scrapl-live-drumclass/2"
INPUT_NAME, OUTPUT_NAME = "audio", "probs"
CLASSES: tuple[str, ...] = ("kick", "snare", "tom", "closed_hat", "open_hat", "cymbal", "clap", "other")


def card_path(path: str | Path) -> Path:
    """The card beside a classifier's ``.onnx`` file."""
    return Path(path).with_suffix(".json")


class DrumClassifier:
    """A loaded drum-class head at ``sample_rate``: ``windows`` (ascending) are its heads' windows,
    ``window`` the longest (samples it reads from the hit's onset), ``min_window`` the shortest."""

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
            raise ValueError(f"{cpath} is not a {CARD_FORMAT} card (re-export with `train-classifier`)")
        if tuple(card.get("classes", ())) != CLASSES:
            raise ValueError(f"classifier {self.path}: classes {card.get('classes')} are not {list(CLASSES)}")
        if file_sha256(self.path) != card.get("onnx", {}).get("sha256"):
            raise ValueError(f"classifier {self.path} does not match its card (SHA-256 differs): re-export")
        self.card = card
        self.sample_rate = int(card["sample_rate"])
        self.windows: tuple[int, ...] = tuple(int(w) for w in card.get("windows", ()))
        if not self.windows or list(self.windows) != sorted(set(self.windows)):
            raise ValueError(f"classifier card {cpath}: windows {list(self.windows)} must be ascending")
        self.window, self.min_window = self.windows[-1], self.windows[0]
        try:
            self._sessions = [ort_session(m, threads) for m in head_models(self.path, len(self.windows))]
        except ModuleNotFoundError:  # onnxruntime or onnx is missing: the CLI names the extra to install
            raise
        except Exception as exc:  # onnx / onnxruntime raise their own exception types for broken graphs
            raise ValueError(f"onnxruntime cannot load classifier {self.path}: {exc}") from exc
        for w in self.windows:  # warm-up: a session's first call allocates
            self.classify(np.zeros(w, np.float32), self.sample_rate)

    def window_at(self, sample_rate: int, window: int | None = None) -> int:
        """Samples of input at ``sample_rate`` covering ``window`` (default: the longest) at the head's
        rate."""
        return math.ceil((self.window if window is None else window) * sample_rate / self.sample_rate)

    def probabilities(self, window: np.ndarray, sample_rate: int) -> np.ndarray:
        """Class probabilities (len(CLASSES),) of a hit's first samples (N,) at ``sample_rate``.

        Resampled to the head's rate and read by the longest head whose window they cover (the shortest
        head when they cover none: zero-padded, a poorer guess); longer input is cut to the window.
        """
        x = np.asarray(window, dtype=np.float32).reshape(-1)
        if sample_rate != self.sample_rate:
            from scrapl_live.audio import resample

            x = resample(x, sample_rate, self.sample_rate)
        n = min(x.size, self.window)
        batch = np.zeros((1, self.window), np.float32)  # per call: the engine classifies on two threads
        batch[0, :n] = np.nan_to_num(x[:n], nan=0.0, posinf=0.0, neginf=0.0)
        head = max(0, int(np.searchsorted(self.windows, n, side="right")) - 1)
        return self._sessions[head].run(None, {INPUT_NAME: batch})[0].reshape(-1)

    def classify(self, window: np.ndarray, sample_rate: int) -> tuple[str, float]:
        """(class, confidence in [0, 1]) of a hit's first samples (N,) at ``sample_rate``."""
        p = self.probabilities(window, sample_rate)
        i = int(np.argmax(p))
        return CLASSES[i], float(p[i])


def head_models(path: str | Path, n_heads: int) -> list[bytes]:
    """Each head of the bank in ``path`` as an ONNX model of its own (serialised): input ``audio``,
    output its (batch, 1, classes) probabilities, only the nodes and weights that head needs.  The
    bank's output is the axis-1 Concat of its heads' (:class:`~scrapl_live.train.classifier.DrumClassBank`
    stacks them)."""
    import onnx
    from onnx import helper

    model = onnx.load(str(path))
    graph = model.graph
    stack = next((node for node in graph.node if OUTPUT_NAME in node.output), None)
    if stack is None or stack.op_type != "Concat" or len(stack.input) != n_heads:
        raise ValueError(f"output {OUTPUT_NAME!r} is not a stack of {n_heads} heads (re-export with "
                         "`train-classifier`)")
    heads = []
    for k, name in enumerate(stack.input):
        needed, nodes = {name}, []
        for node in reversed(graph.node):  # nodes are in topological order
            if needed.intersection(node.output):
                nodes.append(node)
                needed.update(node.input)
        out = helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        sub = helper.make_graph(nodes[::-1], f"head{k}", list(graph.input), [out],
                                [init for init in graph.initializer if init.name in needed])
        heads.append(helper.make_model(sub, opset_imports=model.opset_import, ir_version=model.ir_version,
                                       functions=model.functions).SerializeToString())
    return heads


def load_classifier(path: str | Path, threads: int = 1) -> DrumClassifier:
    """Open, check and warm a drum-class head (FileNotFoundError / ValueError with the reason)."""
    return DrumClassifier(path, threads)


def classifier_for(model: Any, threads: int = 1) -> DrumClassifier | None:
    """The drum-class head a model card names under ``"classifier"`` (a path relative to the card), or None.

    model: a ``LoadedModel`` (its ``encoder.card`` and ``path``). A named head that is missing or
    broken is a ValueError naming both files.
    """
    from scrapl_live.encoder.card import load_named

    card = getattr(getattr(model, "encoder", None), "card", None) or {}
    return load_named(model.path, card, "classifier", "classifier", lambda p: load_classifier(p, threads))
