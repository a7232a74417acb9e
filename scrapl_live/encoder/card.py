"""Model cards (JSON beside each exported .onnx) and onnxruntime sessions; torch-free for the live engine.

A card is a JSON object with ``format`` = :data:`CARD_FORMAT`, the encoder facts written by
:func:`scrapl_live.encoder.export.build_card` (synth, sample_rate, window, window_ms, windows, any_window,
size, n_weights, param_names, params, encoder_config), ``onnx`` (file, opset, names, bytes, sha256,
parity) and the trainer's keys (training_data, metrics, command, git_commit, ...).  ``windows`` lists the
input lengths (samples after an onset, ascending, the last = ``window``) the encoder was trained and
checked at; ``any_window`` = true means it takes any length between the first and the last.  Cards
written before multi-window encoders lack both: ``windows`` = [window], ``any_window`` = false.
Optional keys naming files beside the card (paths relative to it): ``classifier`` (the drum-class head)
and ``full_hit`` (:data:`FULL_HIT_KEY`: an encoder of the same synth and parameters on a longer window,
which file mode analyses each hit with; written by ``scrapl-live export --full-hit``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

CARD_FORMAT = "scrapl-live-encoder/1"
INPUT_NAME = "audio"
OUTPUT_NAME = "theta"
REQUIRED_KEYS = ("synth", "sample_rate", "window", "param_names", "encoder_config", "onnx")
FULL_HIT_KEY = "full_hit"


def card_path(path: str | Path) -> Path:
    """The model card beside an ``.onnx`` file (same stem, ``.json``)."""
    return Path(path).with_suffix(".json")


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (ties a card to its ONNX file)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_card(path: str | Path) -> dict[str, Any]:
    """Read the model card of ``path`` (the .onnx or the .json); ValueError if it is not a valid card."""
    json_path = card_path(path)
    if not json_path.is_file():
        raise FileNotFoundError(f"model card not found: {json_path}")
    try:
        card = json.loads(json_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"model card {json_path} is not valid JSON: {exc}") from exc
    if not isinstance(card, dict) or card.get("format") != CARD_FORMAT:
        raise ValueError(f"model card {json_path} is not a {CARD_FORMAT} card")
    missing = [k for k in REQUIRED_KEYS if k not in card]
    if missing:
        raise ValueError(f"model card {json_path} lacks {missing}")
    return card


def card_windows(card: dict[str, Any]) -> tuple[tuple[int, ...], bool]:
    """(windows ascending, any_window) of a card; ValueError when the list is malformed."""
    window = int(card["window"])
    raw = card.get("windows", [window])
    try:
        windows = tuple(int(w) for w in raw)
    except (TypeError, ValueError):
        raise ValueError(f"model card 'windows' must be a list of sample counts, got {raw!r}") from None
    if not windows or list(windows) != sorted(set(windows)) or windows[-1] != window or windows[0] < 1:
        raise ValueError(f"model card 'windows' {list(windows)} must ascend and end at window={window}")
    any_window = card.get("any_window", False)
    if not isinstance(any_window, bool):
        raise ValueError(f"model card 'any_window' must be true or false, got {any_window!r}")
    return windows, any_window


def takes_length(windows: tuple[int, ...], any_window: bool, n_samples: int) -> bool:
    """Whether a model with these card facts takes an input of ``n_samples`` samples."""
    return windows[0] <= n_samples <= windows[-1] if any_window else n_samples in windows


def check_full_hit(live: dict[str, Any], full: dict[str, Any], path: str | Path) -> None:
    """Check that the card ``full`` (of the encoder file ``path``) can serve as the full-hit encoder of the
    card ``live``: same synth and parameter names, a longer window.  ValueError with the reason."""
    if (full["synth"], list(full["param_names"])) != (live["synth"], list(live["param_names"])):
        raise ValueError(
            f"{path} is a {full['synth']} encoder of {len(full['param_names'])} parameters, not "
            f"{live['synth']} with {list(live['param_names'])}"
        )
    if int(full["window"]) * int(live["sample_rate"]) <= int(live["window"]) * int(full["sample_rate"]):
        raise ValueError(
            f"{path} takes {full['window']} samples at {full['sample_rate']} Hz, no longer than the live "
            f"model's {live['window']} at {live['sample_rate']} Hz"
        )


def load_named(model_path: str | Path, card: dict[str, Any], key: str, what: str,
               load: Callable[[Path], T]) -> T | None:
    """The companion file a model card names under ``key`` (a file name beside the model), opened with
    ``load``; None when the card has no such key.

    A named file that is missing or cannot be used (``load`` raising FileNotFoundError / ValueError), or a
    key that is not a file name, is a ValueError naming both files.
    """
    name = card.get(key)
    if name is None:
        return None
    path = Path(model_path).parent / str(name)
    try:
        if not isinstance(name, str) or not name:
            raise ValueError(f"card key {key!r} must be a file name, got {name!r}")
        return load(path)
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"model {model_path} names {what} {path}, which cannot be used: {exc}") from exc


def check_onnx_file(path: str | Path, card: dict[str, Any]) -> Path:
    """Check that ``path`` exists and is the file the card describes (SHA-256); returns it as a Path."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    if file_sha256(path) != card["onnx"].get("sha256"):
        raise ValueError(
            f"ONNX model {path} does not match its card (SHA-256 differs): corrupt or replaced file"
        )
    return path


def ort_session(path: str | Path | bytes, threads: int = 1):
    """onnxruntime CPU session of a file (or a serialised model) with explicit intra/inter-op thread
    counts and warnings silenced."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    model = path if isinstance(path, bytes) else str(path)
    return ort.InferenceSession(model, sess_options=opts, providers=["CPUExecutionProvider"])
