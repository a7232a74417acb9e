"""Engine jobs: work that may not run in an audio block (a voice's torch render, a texture analysis).

A :class:`JobQueue` runs each job inline (file mode: deterministic) or on one job thread (live mode);
either way its result is handed to ``apply`` on the thread that calls :meth:`JobQueue.apply_ready`
(the engine's block thread), so results and sinks never see two threads.  A failing job costs its
result, never the engine or the job thread.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

R = TypeVar("R")


class JobQueue(Generic[R]):
    """Jobs ``() -> R | None`` whose results go to ``apply(result or None)`` on the owner's thread.

    threaded: run jobs on a daemon job thread (else inline in :meth:`submit`); priority: SCHED_FIFO
    priority of that thread (see :mod:`scrapl_live.live.realtime`); on_error: called with each job's
    exception (the job's result is then None).
    """

    def __init__(self, apply: Callable[[R | None], None], on_error: Callable[[Exception], None],
                 threaded: bool = False, priority: int | None = None) -> None:
        self._apply, self._on_error = apply, on_error
        self._done: queue.SimpleQueue[R | None] = queue.SimpleQueue()
        self._jobs: queue.SimpleQueue[Callable[[], R | None] | None] | None = None
        self._thread: threading.Thread | None = None
        self.outstanding = 0  # submitted but not yet applied
        if threaded:
            self._jobs = queue.SimpleQueue()
            self._thread = threading.Thread(target=self._loop, args=(priority,), name="scrapl-jobs",
                                            daemon=True)
            self._thread.start()

    def submit(self, job: Callable[[], R | None]) -> None:
        """Queue ``job`` for the job thread, or run and apply it now when inline."""
        self.outstanding += 1
        if self._jobs is not None:
            self._jobs.put(job)
        else:
            self._finish(self._run(job))

    def apply_ready(self) -> None:
        """Owner's thread: apply every result finished so far (never waits)."""
        while not self._done.empty():
            self._finish(self._done.get())

    def drain(self, timeout_s: float = 10.0) -> None:
        """Owner's thread: wait for and apply every submitted job (file mode's end, tests)."""
        deadline = time.perf_counter() + timeout_s
        while self.outstanding > 0 and time.perf_counter() < deadline:
            try:
                self._finish(self._done.get(timeout=0.05))
            except queue.Empty:
                continue

    def close(self) -> None:
        """Stop the job thread after the jobs already queued."""
        if self._jobs is not None and self._thread is not None:
            self._jobs.put(None)
            self._thread.join(timeout=5)

    def _finish(self, result: R | None) -> None:
        self.outstanding -= 1
        self._apply(result)

    def _run(self, job: Callable[[], R | None]) -> R | None:
        try:
            return job()
        except Exception as exc:  # any job failure is reported, never raised into a thread loop
            self._on_error(exc)
            return None

    def _loop(self, priority: int | None) -> None:
        if priority is not None:
            from scrapl_live.live.realtime import make_thread_realtime

            make_thread_realtime(priority)
        while (job := self._jobs.get()) is not None:
            self._done.put(self._run(job))
