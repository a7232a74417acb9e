"""Keeps the fine-tune worker running in its own process, restarting it with exponential backoff.

The worker runs as a ``multiprocessing`` *spawn* child (a fresh interpreter: no threads, locks or
audio state inherited from the live engine). A monitor thread waits on it; an exit other than 0
(exception, ``kill -9``, out of memory) is logged as a crash and the worker is started again after
``backoff_s · 2^(n-1)`` seconds (n = crashes in a row, capped at ``max_backoff_s``); a run that lasted
``stable_s`` resets n. Exit 0 means the worker reached ``max_steps``: no restart. The caller — the
live engine — never waits on any of this; :meth:`stop` asks the worker to checkpoint and exit.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from scrapl_live.finetune.config import FinetuneConfig
from scrapl_live.finetune.worker import run_worker

log = logging.getLogger(__name__)


@dataclass
class Crash:
    """One worker exit that was not a clean finish: exit code (negative: killed by that signal), delay."""

    exitcode: int | None
    runtime_s: float
    restart_delay_s: float


class Supervisor:
    """Run :func:`.worker.run_worker` for ``cfg`` in a child process; restart it when it crashes."""

    def __init__(self, cfg: FinetuneConfig, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 stable_s: float = 300.0, max_restarts: int | None = None) -> None:
        if not 0 < backoff_s <= max_backoff_s:
            raise ValueError(f"backoff_s must be in (0, max_backoff_s={max_backoff_s}], got {backoff_s}")
        if max_restarts is not None and max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0 or None, got {max_restarts}")
        self.cfg = cfg
        self.backoff_s, self.max_backoff_s, self.stable_s = backoff_s, max_backoff_s, stable_s
        self.max_restarts = max_restarts
        self.crashes: list[Crash] = []
        self.starts = 0
        self.finished = False  # the worker exited 0 (reached max_steps)
        self.process: Any = None
        self._ctx = multiprocessing.get_context("spawn")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        """The running worker's process id (None between runs)."""
        p = self.process
        return p.pid if p is not None and p.is_alive() else None

    def start(self) -> Supervisor:
        """Start the worker and the monitor thread (returns at once)."""
        if self._thread is not None:
            raise RuntimeError("supervisor already started")
        self._thread = threading.Thread(target=self._monitor, name="scrapl-finetune-supervisor", daemon=True)
        self._thread.start()
        return self

    def _spawn(self) -> None:
        self.process = self._ctx.Process(target=run_worker, args=(asdict(self.cfg),),
                                         name="scrapl-finetune-worker", daemon=True)
        self.process.start()
        self.starts += 1
        log.info("fine-tune worker started (pid %d, run %d)", self.process.pid, self.starts)

    def _monitor(self) -> None:
        streak = 0
        while not self._stop.is_set():
            t0 = time.monotonic()
            self._spawn()
            while self.process.is_alive() and not self._stop.is_set():
                self.process.join(0.2)
            if self._stop.is_set():
                return
            code, runtime = self.process.exitcode, time.monotonic() - t0
            if code == 0:
                self.finished = True
                log.info("fine-tune worker finished (step limit reached)")
                return
            streak = 1 if runtime >= self.stable_s else streak + 1
            delay = min(self.backoff_s * 2 ** (streak - 1), self.max_backoff_s)
            self.crashes.append(Crash(code, runtime, delay))
            if self.max_restarts is not None and len(self.crashes) > self.max_restarts:
                log.error("fine-tune worker crashed (exit code %s), %d crashes: giving up",
                          code, len(self.crashes))
                return
            log.error("fine-tune worker crashed (exit code %s after %.1f s); restarting in %.1f s",
                      code, runtime, delay)
            if self._stop.wait(delay):
                return

    def wait(self, timeout_s: float | None = None) -> bool:
        """Wait for the monitor to end (finished, gave up or stopped); True if it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout_s)
        return not self._thread.is_alive()

    def stop(self, timeout_s: float = 60.0) -> None:
        """Ask the worker to checkpoint and exit (SIGTERM); kill it after ``timeout_s``. Idempotent."""
        self._stop.set()
        p = self.process
        if p is not None and p.is_alive():
            p.terminate()
            p.join(timeout_s)
            if p.is_alive():
                log.warning("fine-tune worker %d ignored SIGTERM for %.0f s: killing it", p.pid, timeout_s)
                p.kill()
                p.join()
        if self._thread is not None:
            self._thread.join(5.0)
