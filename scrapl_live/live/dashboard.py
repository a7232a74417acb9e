"""The live view: a terminal dashboard of a running engine (``scrapl-live live``; ``--quiet`` turns it off).

It shows the input level, the last hits (onset time, drum class, velocity, θ̂ as one bar per
parameter), the latency parts (p50/p99), xruns and underruns, the model in use and its swaps, and the
fine-tune worker's steps and held-out curve.  It is drawn by rich's refresh thread at ``refresh_hz``
(≤ 10) and only *reads* engine state — the bounded ``recent_hits``, ``n_hits``,
``latency.summary()`` and counters — so the audio path never waits on it.  The fine-tune status
file is re-read at most once a second.
"""

from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

BARS = " ▁▂▃▄▅▆▇█"
MAX_HZ = 10.0
SHOWN_HITS = 8
LEVEL_S = 0.05  # the input meter's span


def bars(values: np.ndarray) -> str:
    """One block character per value in [0, 1] (values outside are clipped): θ̂ at a glance."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float64)), 0.0, 1.0)
    return "".join(BARS[int(round(x * (len(BARS) - 1)))] for x in v)


def meter(db: float, width: int = 30, floor_db: float = -60.0) -> str:
    """A horizontal level bar for ``db`` dBFS between ``floor_db`` and 0."""
    frac = 0.0 if not math.isfinite(db) else min(max((db - floor_db) / -floor_db, 0.0), 1.0)
    n = int(round(frac * width))
    return "█" * n + "·" * (width - n)


def input_peak_db(engine: Any, span_s: float = LEVEL_S) -> float:
    """Peak of the engine's last ``span_s`` of input (dBFS), read from its circular input history.

    The view thread copies a few ms of samples the block thread may be writing meanwhile: a torn read
    moves a meter for one frame, nothing else.
    """
    hist, t = engine._hist, engine._t
    n = min(int(span_s * engine.sample_rate), hist.size, t)
    if n <= 0:
        return float("-inf")
    idx = (np.arange(t - n, t)) % hist.size
    peak = float(np.max(np.abs(hist[idx])))
    return 20 * math.log10(peak) if peak > 0 else float("-inf")


class Dashboard:
    """Renders one frame of the view of ``engine`` (``stream``'s counters, the fine-tune ``status_dir``).

    ``render()`` builds a rich renderable; :meth:`start`/:meth:`stop` run it in a ``rich.live.Live``.
    """

    def __init__(self, engine: Any, stream: Any | None = None, status_dir: str | Path | None = None,
                 refresh_hz: float = 4.0, console: Any | None = None, tuner: Any | None = None) -> None:
        if not 0 < refresh_hz <= MAX_HZ:
            raise ValueError(f"refresh_hz must be in (0, {MAX_HZ:g}], got {refresh_hz}")
        self.engine, self.stream, self.refresh_hz = engine, stream, float(refresh_hz)
        self.status_dir = None if status_dir is None else Path(status_dir)
        self.console, self.tuner = console, tuner  # tuner: the fine-tune Supervisor (its gave_up)
        self._status: dict[str, Any] | None = None
        self._status_read = -math.inf
        self._live: Any = None
        self.frames = 0

    # ------------------------------------------------------------------------------------ state
    def _finetune_status(self) -> dict[str, Any] | None:
        """The worker's status.json, re-read at most once a second (None before the first one)."""
        if self.status_dir is None:
            return None
        now = time.monotonic()
        if now - self._status_read >= 1.0:
            self._status_read = now
            from scrapl_live.finetune.status import read_status

            with contextlib.suppress(ValueError, OSError):  # not written yet or torn: keep the last one
                self._status = read_status(self.status_dir)
        return self._status

    # ------------------------------------------------------------------------------------ frame
    def render(self) -> Any:
        """One frame: a rich ``Group`` of the header, level, hits table, latency and fine-tune lines."""
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        self.frames += 1
        eng = self.engine
        model = eng.slot.current
        sr = eng.sample_rate
        head = Text.assemble(("scrapl-live ", "bold"), f"{model.synth} encoder {model.path.name}",
                             f"  swaps {eng.slot.swaps}", f"  {sr} Hz, {eng.block_size}-frame blocks")
        if eng.slot.last_error:
            head.append(f"\nlast swap rejected: {eng.slot.last_error}", style="red")
        db = input_peak_db(eng)
        level = Text(f"input {meter(db)} " + (f"{db:6.1f} dBFS" if math.isfinite(db) else " silent"))

        hits = list(eng.recent_hits)[-SHOWN_HITS:]
        names = [s.name for s in eng.specs]
        table = Table(title=f"last hits ({eng.n_hits} in all)", expand=False, pad_edge=False)
        for col in ("onset s", "class", "velocity", f"θ̂ ({len(names)})"):
            table.add_column(col, justify="right" if col != "class" else "left")
        for h in reversed(hits):
            label = getattr(h, "label", None)
            conf = getattr(h, "confidence", None)
            cls = "-" if label is None else label + ("" if conf is None else f" {conf:.2f}")
            table.add_row(f"{h.t_samples / sr:.2f}", cls, f"{bars([h.velocity])} {h.velocity:.2f}",
                          bars(h.theta))

        lat = eng.latency.summary()
        parts = "  ".join(f"{k} {p50:.1f}/{p99:.1f}" for k, (p50, p99) in lat.items()
                          if math.isfinite(p50))
        counts = f"errors {eng.errors}"
        if self.stream is not None:
            counts = f"xruns {self.stream.xruns}  underruns {self.stream.underruns}  " + counts
        lines = [head, level, table, Text(f"latency p50/p99 ms: {parts or '(no hits yet)'}"), Text(counts)]
        status = self._finetune_status()
        if self.status_dir is not None:
            lines.append(Text(self._finetune_line(status)))
        if self.tuner is not None and self.tuner.gave_up:
            lines.append(Text(self.tuner.gave_up, style="red"))
        return Group(*lines)

    @staticmethod
    def _finetune_line(status: dict[str, Any] | None) -> str:
        if status is None:
            return "fine-tune: starting"
        hist = [r["heldout_distance"] for r in status.get("history", [])]
        curve = ""
        if hist:
            lo, hi = min(hist), max(hist)
            span = (hi - lo) or 1.0
            curve = f"  held-out {bars([(v - lo) / span for v in hist[-24:]])} {hist[-1]:.4g}"
        return (f"fine-tune: {status['state']}, step {status['step']}, "
                f"{status['samples']['train']} + {status['samples']['heldout']} samples, "
                f"exports {status.get('exports', 0)}{curve}")

    # ------------------------------------------------------------------------------------ thread
    def start(self) -> Dashboard:
        """Draw the view on rich's refresh thread (off the audio path) until :meth:`stop`."""
        from rich.live import Live

        self._live = Live(get_renderable=self.render, refresh_per_second=self.refresh_hz,
                          console=self.console, transient=False, redirect_stdout=False,
                          redirect_stderr=False)
        self._live.start()
        return self

    def stop(self) -> None:
        """Stop drawing (the last frame stays on the terminal). Idempotent."""
        if self._live is not None:
            self._live.stop()
            self._live = None
