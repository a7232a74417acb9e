"""The engine's encoder: load + validate + warm an ONNX model, and hot-swap it without a gap.

A swap loads and warms the new model on a side thread; the engine picks it up at its next block
boundary with one reference assignment (:meth:`ModelSlot.poll`).  A model that fails to load, has
another synth/parameter list than the playing one, or returns bad values on the warm-up inputs is
rejected with a logged reason and the old model keeps playing.  File mode may analyse hits with the
longer-window encoder the card names under ``full_hit`` (:func:`load_full_hit`); live mode never loads it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.encoder.card import FULL_HIT_KEY, check_full_hit, load_named, takes_length

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    """A warmed encoder plus the facts the engine needs from its model card."""

    encoder: Any = field(repr=False)  # scrapl_live.encoder.runtime.OnnxEncoder
    path: Path
    synth: str
    sample_rate: int
    window: int
    param_names: tuple[str, ...]
    windows: tuple[int, ...] = ()
    """Window lengths the encoder takes (ascending, samples at ``sample_rate``); the card's ``windows``,
    or ``(window,)`` for a single-window model."""
    card: dict[str, Any] = field(default_factory=dict, repr=False)
    any_window: bool = False
    """True when the encoder takes any length from ``windows[0]`` to ``windows[-1]`` (the card says so)."""

    def __post_init__(self) -> None:
        if not self.windows:
            self.windows = (self.window,)

    def takes(self, n_samples: int) -> bool:
        """Whether :meth:`infer` accepts a window of ``n_samples`` samples."""
        return takes_length(self.windows, self.any_window, n_samples)

    def infer(self, window: np.ndarray) -> np.ndarray:
        """window (N,) float32 at ``sample_rate``, N in ``windows`` (any N in their range with
        ``any_window``) → θ̂ (U,) float32 in [0, 1]; ValueError for another length."""
        n = np.shape(window)[-1] if np.ndim(window) else 0
        if np.ndim(window) != 1 or not self.takes(n):
            between = " (or any length between)" if self.any_window else ""
            raise ValueError(f"model {self.path.name} takes {list(self.windows)} samples{between}, "
                             f"got shape {np.shape(window)}")
        theta = np.asarray(self.encoder(window), dtype=np.float32).reshape(-1)
        return np.clip(theta, 0.0, 1.0)


def load_model(path: str | Path, threads: int = 1, like: LoadedModel | None = None) -> LoadedModel:
    """Open, check and warm an ONNX encoder. ``like``: the playing model the new one must be compatible with.

    Raises FileNotFoundError for a missing file and ValueError (with the reason) for a corrupt,
    incompatible or misbehaving model.
    """
    from scrapl_live.encoder.runtime import OnnxEncoder

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"model file not found: {p}")
    if not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an int >= 1, got {threads!r}")
    try:
        enc = OnnxEncoder(p, threads=threads)
    except (ValueError, FileNotFoundError, ModuleNotFoundError):  # the last: the CLI names the extra
        raise
    except Exception as exc:  # onnxruntime raises its own exception types for broken graphs
        raise ValueError(f"model {p} cannot be loaded: {exc}") from exc
    card = enc.card
    try:
        model = LoadedModel(enc, p, str(card["synth"]), int(card["sample_rate"]), int(card["window"]),
                            tuple(str(n) for n in card["param_names"]), tuple(enc.windows), dict(card),
                            bool(enc.any_window))
    except (KeyError, TypeError) as exc:
        raise ValueError(f"model {p}: model card lacks {exc}") from exc
    if like is not None and (model.synth, model.param_names) != (like.synth, like.param_names):
        raise ValueError(
            f"model {p} is incompatible: synth {model.synth!r} with {len(model.param_names)} parameters, "
            f"but {like.synth!r} with {len(like.param_names)} is playing"
        )
    rng = np.random.default_rng(0)
    probes = [np.zeros(n, np.float32) for n in model.windows]
    probes += [0.1 * rng.standard_normal(n).astype(np.float32) for n in model.windows]
    for probe in probes:
        try:
            theta = np.asarray(enc(probe), dtype=np.float32).reshape(-1)
        except Exception as exc:  # any failure of a warm-up run disqualifies the model
            raise ValueError(f"model {p} failed its warm-up run at {probe.size} samples: {exc}") from exc
        if theta.shape != (len(model.param_names),) or not np.all(np.isfinite(theta)):
            raise ValueError(f"model {p} returned {theta.shape} / non-finite values on its warm-up input")
    return model


def load_full_hit(model: LoadedModel, threads: int = 1) -> LoadedModel | None:
    """The full-hit encoder ``model``'s card names under ``full_hit`` (a path relative to the card), loaded
    and checked like any model (same synth and parameters, a longer window), or None when none is named.

    A named encoder that is missing, broken or mismatched is a ValueError naming both files.
    """
    def load(path: Path) -> LoadedModel:
        full = load_model(path, threads)
        check_full_hit(model.card, full.card, path)
        return full

    return load_named(model.path, model.card, FULL_HIT_KEY, "full-hit encoder", load)


class ModelSlot:
    """Holds the playing model; swaps in a new one at a block boundary after loading it on a side thread."""

    def __init__(self, model: LoadedModel, threads: int = 1) -> None:
        self.current = model
        self.threads = threads
        self._pending: LoadedModel | None = None
        self.last_error: str | None = None
        self.swaps = 0
        self._watch_stop = threading.Event()

    def swap(self, path: str | Path, wait: bool = False) -> threading.Thread:
        """Load + warm ``path`` on a side thread; on success it plays from the next block.

        Returns the loader thread (``wait=True`` joins it first).
        """
        th = threading.Thread(target=self._load, args=(Path(path),), name="scrapl-model-swap", daemon=True)
        th.start()
        if wait:
            th.join()
        return th

    def _load(self, path: Path) -> None:
        try:
            model = load_model(path, self.threads, like=self.current)
        except (ValueError, FileNotFoundError) as exc:
            self.last_error = str(exc)
            log.error("model swap rejected, keeping %s: %s", self.current.path, exc)
            return
        self.last_error = None
        self._pending = model  # single reference assignment; the engine takes it in poll()

    def poll(self) -> LoadedModel:
        """Called by the engine at a block boundary: adopt a pending model, return the one to use."""
        pending = self._pending
        if pending is not None:
            self._pending = None
            self.current = pending
            self.swaps += 1
            log.info("model swapped in: %s", pending.path)
        return self.current

    def watch(self, path: str | Path, interval_s: float = 1.0) -> threading.Thread:
        """Poll ``path``'s modification time; each change triggers :meth:`swap`. Stop with :meth:`stop`."""
        p = Path(path)

        def run() -> None:
            last = p.stat().st_mtime_ns if p.exists() else None
            while not self._watch_stop.wait(interval_s):
                now = p.stat().st_mtime_ns if p.exists() else None
                if now is not None and now != last:
                    time.sleep(0.2)  # let the writer finish the file
                    last = p.stat().st_mtime_ns
                    self._load(p)

        th = threading.Thread(target=run, name="scrapl-model-watch", daemon=True)
        th.start()
        return th

    def stop(self) -> None:
        """Stop the file watcher, if any."""
        self._watch_stop.set()
