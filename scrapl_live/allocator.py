"""Keep freed tensor memory in the process heap (glibc), so the next training step reuses its pages.

glibc serves large allocations with ``mmap`` and unmaps them on free.  A CPU JTFS step allocates and
frees hundreds of MB of such intermediates, so the kernel faults in and zeroes every page again at the
next step: about a third of an exact 808 SCRAPL step (``benchmarks/bench_loss.py --tuned-malloc``).
Raising the mmap and trim thresholds keeps that memory in the heap instead; the price is that the
process's RSS stays at its peak rather than shrinking between steps (glibc's block placement can add a
few of the largest blocks before reuse sets in: 808 SCRAPL step peak RSS 1479 vs 1261 MB).

The scrapl-live CLI applies this at start-up; library users call :func:`tune_allocator` themselves, or
set the same values through the environment (:func:`malloc_env`) before Python starts.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

# mallopt parameter -> (its number in <malloc.h>, value, environment variable read by glibc at start-up)
SETTINGS: dict[str, tuple[int, int, str]] = {
    "M_MMAP_THRESHOLD": (-3, 2**30, "MALLOC_MMAP_THRESHOLD_"),  # allocations below 1 GiB come from the heap
    "M_TRIM_THRESHOLD": (-1, 2**31 - 1, "MALLOC_TRIM_THRESHOLD_"),  # never give the heap top back
    "M_TOP_PAD": (-2, 2**28, "MALLOC_TOP_PAD_"),  # grow the heap 256 MiB at a time
}


def malloc_env() -> dict[str, str]:
    """The same settings as environment variables, for child processes (e.g. a benchmark's peer)."""
    return {env: str(value) for _, value, env in SETTINGS.values()}


def tune_allocator() -> bool:
    """Apply :data:`SETTINGS` with ``mallopt``; False (and nothing changed) where libc is not glibc."""
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        log.debug("allocator: no glibc mallopt here; keeping the default allocator settings")
        return False
    applied = all(mallopt(param, value) == 1 for param, value, _ in SETTINGS.values())
    if not applied:
        log.debug("allocator: mallopt rejected a setting; the others stay applied")
    return applied
