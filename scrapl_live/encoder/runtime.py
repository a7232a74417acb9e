"""onnxruntime inference of an exported encoder, for the live engine (no torch needed at inference)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.encoder.card import (
    INPUT_NAME,
    OUTPUT_NAME,
    card_windows,
    check_onnx_file,
    load_card,
    ort_session,
    takes_length,
)

log = logging.getLogger(__name__)


class OnnxEncoder:
    """An exported encoder: ``enc(audio (N,) or (B, N)) -> θ̂ (U,) or (B, U)`` float32 in (0, 1).

    N is one of the card's ``windows`` (``(window,)`` for a single-window model), or any length between
    the first and the last when the card says ``any_window``.  Construction validates the file against
    its card (SHA-256, input/output names and input length) and runs a warm-up inference at every
    window, so a broken or mismatched model is rejected with a ValueError up front —
    the live engine keeps its old model in that case.  ``threads`` sets onnxruntime's intra-op threads
    (inter-op is 1, sequential execution).
    """

    def __init__(self, path: str | Path, threads: int = 1) -> None:
        if int(threads) < 1:
            raise ValueError(f"threads must be >= 1, got {threads}")
        self.card: dict[str, Any] = load_card(path)
        self.path = check_onnx_file(path, self.card)
        self.synth: str = self.card["synth"]
        self.sample_rate: int = int(self.card["sample_rate"])
        self.window: int = int(self.card["window"])
        self.windows, self.any_window = card_windows(self.card)
        self.param_names: tuple[str, ...] = tuple(self.card["param_names"])
        self.threads = int(threads)
        try:
            self._session = ort_session(self.path, self.threads)
        except ModuleNotFoundError:  # onnxruntime itself is missing: the CLI names the extra to install
            raise
        except Exception as exc:  # onnxruntime raises its own exception types for invalid graphs
            raise ValueError(f"onnxruntime cannot load {self.path}: {exc}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if [i.name for i in inputs] != [INPUT_NAME] or [o.name for o in outputs] != [OUTPUT_NAME]:
            raise ValueError(f"{self.path} must have one input {INPUT_NAME!r} and one output {OUTPUT_NAME!r}")
        length = inputs[0].shape[-1]  # an int, or a dimension name for a variable-length graph
        variable = not isinstance(length, int)
        if variable != (len(self.windows) > 1) or (not variable and length != self.window):
            takes = "inputs of any length" if variable else f"{length} samples"
            raise ValueError(f"{self.path} takes {takes} but its card says windows {list(self.windows)}")
        for n in self.windows:
            try:
                theta = self(np.zeros(n, dtype=np.float32))
            except Exception as exc:
                raise ValueError(f"warm-up inference of {self.path} at {n} samples failed: {exc}") from exc
            if theta.shape != (len(self.param_names),):
                raise ValueError(
                    f"{self.path} outputs {theta.shape} values, card lists {len(self.param_names)} params"
                )
        log.info(
            "loaded %s encoder %s (windows %s at %d Hz, %d threads)",
            self.synth,
            self.path,
            self.windows,
            self.sample_rate,
            self.threads,
        )

    @property
    def length_rule(self) -> str:
        """The input lengths this model takes, in words (for error messages)."""
        if self.any_window:
            return f"{self.windows[0]} to {self.windows[-1]} samples"
        return f"{' or '.join(map(str, self.windows))} samples"

    def __call__(self, audio: np.ndarray, sample_rate: int | None = None) -> np.ndarray:
        """audio (N,) or (B, N) finite floats at ``self.sample_rate`` → θ̂ (U,) or (B, U) float32."""
        if sample_rate is not None and int(sample_rate) != self.sample_rate:
            raise ValueError(f"sample_rate {sample_rate} differs from the model's {self.sample_rate} Hz")
        x = np.asarray(audio)
        if not np.issubdtype(x.dtype, np.floating):
            raise ValueError(f"audio must be floating point, got dtype {x.dtype}")
        if x.ndim not in (1, 2) or not x.size or not takes_length(self.windows, self.any_window, x.shape[-1]):
            raise ValueError(f"audio must have shape (N,) or (B, N), N = {self.length_rule}; got {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("audio contains NaN or inf")
        batch = np.ascontiguousarray(x.reshape(-1, x.shape[-1]), dtype=np.float32)
        theta = self._session.run([OUTPUT_NAME], {INPUT_NAME: batch})[0]
        return theta[0] if x.ndim == 1 else theta
