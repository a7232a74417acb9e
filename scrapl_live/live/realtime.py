"""Real-time settings for live mode: SCHED_FIFO worker threads, a short GIL switch interval, a frozen heap.

sounddevice runs the audio callback as Python code, so the callback needs the GIL once per period
(5.3 ms at 256 frames / 48 kHz), and a late callback is an xrun of the whole JACK graph.  Three things
can hold it up, and :class:`RealtimeSession` removes each:

- a GIL holder that the OS preempted: on a busy machine an ordinary thread holding the GIL can wait
  for a CPU for longer than a period.  The engine's block and job threads run SCHED_FIFO
  (:func:`make_thread_realtime`), below the JACK client thread (JACK gives it the server's priority
  minus 5, i.e. 5 for ``jackd -R``'s default 10), so no ordinary process preempts them;
- CPython's GIL hand-off: a thread waiting for the GIL asks its holder to let go only after the switch
  interval (5 ms by default), nearly a period; live mode uses ``SWITCH_INTERVAL_S``;
- the cyclic garbage collector: a collection runs in whichever thread allocates, the audio callback
  included, and a full one over torch's heap takes tens of ms.  ``gc.freeze()`` moves everything that
  exists when the stream starts out of the collector's sight, so collections only scan new objects.
"""

from __future__ import annotations

import gc
import logging
import os
import sys

log = logging.getLogger(__name__)

BLOCK_PRIORITY = 3
"""SCHED_FIFO priority of the engine's block thread (below JACK's client thread, 5 by default)."""
JOB_PRIORITY = 2
"""SCHED_FIFO priority of the engine's job thread (voice tails, texture analyses)."""
SWITCH_INTERVAL_S = 0.0005
"""GIL switch interval while streaming: the longest the audio callback waits for a busy holder."""


def make_thread_realtime(priority: int) -> bool:
    """Make the calling thread SCHED_FIFO at ``priority``; False (logged) where the OS does not allow it."""
    if not isinstance(priority, int) or not 1 <= priority <= 99:
        raise ValueError(f"priority must be an int in [1, 99], got {priority!r}")
    if not hasattr(os, "sched_setscheduler"):
        log.info("no SCHED_FIFO on this platform; thread keeps its normal priority")
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))  # 0: the calling thread
    except OSError as exc:
        log.info("real-time priority %d refused (%s); thread keeps its normal priority", priority, exc)
        return False
    return True


class RealtimeSession:
    """For the time a stream runs: a short GIL switch interval and a frozen GC heap (restored on exit)."""

    def __init__(self, switch_interval_s: float = SWITCH_INTERVAL_S) -> None:
        if not 0 < switch_interval_s <= 0.1:
            raise ValueError(f"switch_interval_s must be in (0, 0.1], got {switch_interval_s}")
        self.switch_interval_s = switch_interval_s
        self._saved: float | None = None

    def __enter__(self) -> RealtimeSession:
        self._saved = sys.getswitchinterval()
        sys.setswitchinterval(self.switch_interval_s)
        gc.collect()
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._saved is not None:
            sys.setswitchinterval(self._saved)
            self._saved = None
        gc.unfreeze()
