"""Keeps the fine-tune worker running in its own process, restarting it with exponential backoff.

The worker runs as a ``multiprocessing`` *spawn* child (a fresh interpreter: no threads, locks or
audio state inherited from the live engine). A monitor thread waits on it; an exit other than 0
(exception, ``kill -9``, out of memory) is logged as a crash and the worker is started again after
``backoff_s · 2^(n-1)`` seconds (n = crashes in a row, capped at ``max_backoff_s``); a run that lasted
``stable_s`` resets n. Exit 0 means the worker reached ``max_steps``: no restart. A worker that fails
with the same error ``max_identical`` times in a row (a corrupt model, a broken store: restarting cannot
help) is given up, and :attr:`Supervisor.gave_up` says why. The child reports its error as one line
through a pipe (no traceback on the terminal). The caller — the live engine — never waits on any of
this; :meth:`stop` asks the worker to checkpoint and exit.
"""

from __future__ import annotations

import logging
import multiprocessing
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from scrapl_live.finetune.config import FinetuneConfig
from scrapl_live.finetune.worker import run_worker

log = logging.getLogger(__name__)


@dataclass
class Crash:
    """One worker exit that was not a clean finish: exit code (negative: killed by that signal), delay,
    and the worker's error message (None when it was killed)."""

    exitcode: int | None
    runtime_s: float
    restart_delay_s: float
    error: str | None = None


def _child(cfg: dict[str, Any], conn: Any) -> None:
    """Spawned process: run the worker; an exception becomes one line on ``conn`` and exit code 1."""
    try:
        run_worker(cfg)
    except Exception as exc:  # any failure: report it, the supervisor decides on a restart
        msg = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
        log.debug("fine-tune worker failed", exc_info=True)
        logging.getLogger(__name__).error("fine-tune worker failed: %s", msg)
        conn.send(msg)
        sys.exit(1)
    finally:
        conn.close()


class Supervisor:
    """Run :func:`.worker.run_worker` for ``cfg`` in a child process; restart it when it crashes."""

    def __init__(self, cfg: FinetuneConfig, backoff_s: float = 1.0, max_backoff_s: float = 60.0,
                 stable_s: float = 300.0, max_restarts: int | None = None,
                 max_identical: int | None = 3) -> None:
        if not 0 < backoff_s <= max_backoff_s:
            raise ValueError(f"backoff_s must be in (0, max_backoff_s={max_backoff_s}], got {backoff_s}")
        if max_restarts is not None and max_restarts < 0:
            raise ValueError(f"max_restarts must be >= 0 or None, got {max_restarts}")
        if max_identical is not None and max_identical < 1:
            raise ValueError(f"max_identical must be >= 1 or None, got {max_identical}")
        self.cfg = cfg
        self.backoff_s, self.max_backoff_s, self.stable_s = backoff_s, max_backoff_s, stable_s
        self.max_restarts, self.max_identical = max_restarts, max_identical
        self.crashes: list[Crash] = []
        self.gave_up: str | None = None  # why the supervisor stopped restarting a failing worker
        self.starts = 0
        self.finished = False  # the worker exited 0 (reached max_steps)
        self.process: Any = None
        self._errors: Any = None  # read end of the current worker's error pipe
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
        self._errors, child_end = self._ctx.Pipe(duplex=False)
        self.process = self._ctx.Process(target=_child, args=(asdict(self.cfg), child_end),
                                         name="scrapl-finetune-worker", daemon=True)
        self.process.start()
        child_end.close()
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
            error = self._read_error()
            streak = 1 if runtime >= self.stable_s else streak + 1
            delay = min(self.backoff_s * 2 ** (streak - 1), self.max_backoff_s)
            self.crashes.append(Crash(code, runtime, delay, error))
            if self._same_error_repeated():
                self.gave_up = (f"fine-tune worker failed {self.max_identical} times in a row with the same "
                                f"error, giving up: {error}")
                log.error("%s", self.gave_up)
                return
            if self.max_restarts is not None and len(self.crashes) > self.max_restarts:
                self.gave_up = f"fine-tune worker crashed {len(self.crashes)} times: giving up"
                log.error("fine-tune worker crashed (exit code %s), %d crashes: giving up",
                          code, len(self.crashes))
                return
            log.error("fine-tune worker crashed (exit code %s after %.1f s); restarting in %.1f s",
                      code, runtime, delay)
            if self._stop.wait(delay):
                return

    def _read_error(self) -> str | None:
        """The exited worker's error line, or None: a killed worker sent none, and its pipe reads as
        end of file (``poll()`` is true then too)."""
        try:
            return self._errors.recv() if self._errors.poll() else None
        except (EOFError, OSError):
            return None
        finally:
            self._errors.close()

    def _same_error_repeated(self) -> bool:
        """The last ``max_identical`` crashes were failures with one and the same error message."""
        n = self.max_identical
        last = self.crashes[-n:] if n is not None else []
        return len(last) == n and last[0].error is not None and all(
            (c.exitcode, c.error) == (last[0].exitcode, last[0].error) for c in last)

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
