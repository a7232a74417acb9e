"""The live view: a terminal dashboard of a running engine (``scrapl-live live``; ``--quiet`` turns it off).

It shows the input level, the last hits (onset time, drum class, velocity, θ̂ as one bar per
parameter), the latency parts (p50/p99), xruns and underruns, the model in use and its swaps, and the
fine-tune worker's steps and held-out curve.

The engine's process only takes a *snapshot* of plain values at ``refresh_hz`` (≤ 10) on a thread of
its own — it reads the bounded ``recent_hits``, ``n_hits``, ``latency.summary()`` and counters, a
fraction of a millisecond — and sends it down a pipe; rich lays out and draws each frame in a
separate process. Drawing takes ~15 ms of Python per frame: done in the engine's process, that time
holds the GIL, and a preempted holder stalls the real-time block thread (measured: xruns, see
``benchmarks/bench_dashboard.py``). The fine-tune status file is re-read at most once a second.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

BARS = " ▁▂▃▄▅▆▇█"
MAX_HZ = 10.0
SHOWN_HITS = 8
LEVEL_S = 0.05  # the input meter's span
VIEW_NICE = 10  # niceness increment of the view process


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


def snapshot(engine: Any, stream: Any | None = None, finetune: dict[str, Any] | None = None,
             finetune_on: bool = False, gave_up: str | None = None) -> dict[str, Any]:
    """Plain values (picklable) of one frame of ``engine``, its ``stream``'s counters and the fine-tune
    status: the only work the view does in the engine's process."""
    model = engine.slot.current
    sr = engine.sample_rate
    hits = [(h.t_samples / sr, getattr(h, "label", None), getattr(h, "confidence", None), float(h.velocity),
             np.asarray(h.theta, np.float32).tolist()) for h in list(engine.recent_hits)[-SHOWN_HITS:]]
    return {
        "model": f"{model.synth} encoder {model.path.name}", "swaps": engine.slot.swaps,
        "swap_error": engine.slot.last_error, "rate": sr, "block": engine.block_size,
        "level_db": input_peak_db(engine), "hits": hits, "n_hits": engine.n_hits,
        "n_params": len(engine.specs), "latency": dict(engine.latency.summary()), "errors": engine.errors,
        "xruns": None if stream is None else stream.xruns,
        "underruns": None if stream is None else stream.underruns,
        "finetune_on": finetune_on, "finetune": finetune, "gave_up": gave_up,
    }


def render(snap: dict[str, Any]) -> Any:
    """One frame of a :func:`snapshot` as a rich ``Group``: header, level, hits, latency, counters."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from scrapl_live.live.plot import hit_label

    head = Text.assemble(("scrapl-live ", "bold"), snap["model"], f"  swaps {snap['swaps']}",
                         f"  {snap['rate']} Hz, {snap['block']}-frame blocks")
    if snap["swap_error"]:
        head.append(f"\nlast swap rejected: {snap['swap_error']}", style="red")
    db = snap["level_db"]
    level = Text(f"input {meter(db)} " + (f"{db:6.1f} dBFS" if math.isfinite(db) else " silent"))
    table = Table(title=f"last hits ({snap['n_hits']} in all)", expand=False, pad_edge=False)
    for col in ("onset s", "class", "velocity", f"θ̂ ({snap['n_params']})"):
        table.add_column(col, justify="left" if col == "class" else "right")
    for t, label, conf, velocity, theta in reversed(snap["hits"]):
        cls = hit_label(label, conf) or "-"
        table.add_row(f"{t:.2f}", cls, f"{bars([velocity])} {velocity:.2f}", bars(np.asarray(theta)))
    parts = "  ".join(f"{k} {p50:.1f}/{p99:.1f}" for k, (p50, p99) in snap["latency"].items()
                      if math.isfinite(p50))
    counts = f"errors {snap['errors']}"
    if snap["xruns"] is not None:
        counts = f"xruns {snap['xruns']}  underruns {snap['underruns']}  " + counts
    lines = [head, level, table, Text(f"latency p50/p99 ms: {parts or '(no hits yet)'}"), Text(counts)]
    if snap["finetune_on"]:
        lines.append(Text(finetune_line(snap["finetune"])))
    if snap["gave_up"]:
        lines.append(Text(snap["gave_up"], style="red"))
    return Group(*lines)


def finetune_line(status: dict[str, Any] | None) -> str:
    """The fine-tune worker's state, step, samples, exports and held-out curve (bars, lowest = best)."""
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


def _draw(conn: Any, console_args: dict[str, Any]) -> None:
    """View process: draw every snapshot received on ``conn`` until None (the last frame stays)."""
    import signal

    from rich.console import Console
    from rich.live import Live

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the engine process's to handle
    with contextlib.suppress(OSError):
        os.nice(VIEW_NICE)  # a busy machine delays the view, not the audio graph
    path = console_args.pop("path", None)
    out = open(path, "w") if path else None  # noqa: SIM115 - closed below
    console = Console(file=out, **console_args)
    try:
        with Live(console=console, auto_refresh=False, redirect_stdout=False, redirect_stderr=False) as live:
            while (snap := conn.recv()) is not None:
                live.update(render(snap), refresh=True)
    except (EOFError, OSError):  # the engine process went away
        pass
    finally:
        if out is not None:
            out.close()


class Dashboard:
    """The live view of ``engine`` (``stream``'s counters, the fine-tune ``status_dir``, the ``tuner``
    Supervisor's ``gave_up``): :meth:`start` draws it in a process of its own until :meth:`stop`.

    console_args: passed to ``rich.console.Console`` in the view process (``path``: write to this file
    instead of the terminal; e.g. ``force_terminal``, ``width``).
    """

    def __init__(self, engine: Any, stream: Any | None = None, status_dir: str | Path | None = None,
                 refresh_hz: float = 4.0, tuner: Any | None = None,
                 console_args: dict[str, Any] | None = None) -> None:
        if not 0 < refresh_hz <= MAX_HZ:
            raise ValueError(f"refresh_hz must be in (0, {MAX_HZ:g}], got {refresh_hz}")
        self.engine, self.stream, self.refresh_hz, self.tuner = engine, stream, float(refresh_hz), tuner
        self.status_dir = None if status_dir is None else Path(status_dir)
        self.console_args = dict(console_args or {})
        self._status: dict[str, Any] | None = None
        self._status_read = -math.inf
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._process: Any = None
        self._conn: Any = None
        self.frames = 0  # snapshots sent to the view process

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

    def snapshot(self) -> dict[str, Any]:
        """This frame's values (see :func:`snapshot`)."""
        gave_up = None if self.tuner is None else self.tuner.gave_up
        return snapshot(self.engine, self.stream, self._finetune_status(), self.status_dir is not None,
                        gave_up)

    def start(self) -> Dashboard:
        """Start the view process and the snapshot thread (returns at once)."""
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        receiver, self._conn = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=_draw, args=(receiver, self.console_args), name="scrapl-view",
                                    daemon=True)
        self._process.start()
        receiver.close()
        self._thread = threading.Thread(target=self._run, name="scrapl-view-snapshots", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        period = 1.0 / self.refresh_hz
        while not self._stop.wait(period):
            try:
                self._conn.send(self.snapshot())
            except (BrokenPipeError, OSError):  # the view process ended (its terminal closed)
                return
            self.frames += 1

    def stop(self) -> None:
        """Send a last frame and stop the view (the frame stays on the terminal). Idempotent."""
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join()
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send(self.snapshot())
            self.frames += 1
            self._conn.send(None)
        self._process.join(10.0)
        if self._process.is_alive():
            self._process.kill()
        self._conn.close()
        self._thread = None
