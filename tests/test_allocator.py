"""Allocator tuning: after ``tune_allocator()`` a freed large tensor's pages are reused (few page faults
when the next one is allocated and written), where glibc's defaults unmap and re-fault them."""

from __future__ import annotations

import subprocess
import sys

import pytest

from scrapl_live.allocator import SETTINGS, malloc_env

# Allocate, write, free a 128 MiB tensor several times (steady state: glibc's block placement grows the
# tuned heap over the first 4–9 rounds, depending on what the process allocated before, then reuses it),
# then count the minor page faults of one more.
SCRIPT = """
import resource, sys, torch
from scrapl_live.allocator import tune_allocator
applied = tune_allocator() if sys.argv[1] == "tuned" else None
def touch():
    x = torch.empty(2**25, dtype=torch.float32)
    x.fill_(1.0)
    del x
for _ in range(16):
    touch()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
touch()
print(applied, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(mode: str) -> tuple[str, int]:
    out = subprocess.run([sys.executable, "-c", SCRIPT, mode], capture_output=True, text=True, check=True)
    applied, faults = out.stdout.split()
    return applied, int(faults)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt tuning is glibc (Linux) only")
def test_tuned_heap_reuses_pages_of_freed_tensors() -> None:
    _, default = _faults("default")
    applied, tuned = _faults("tuned")
    assert applied == "True"
    pages = 2**27 // 4096  # 32768 pages of 4 KiB in 128 MiB
    assert default > pages // 2, f"glibc's default should re-fault the pages, saw {default}"
    assert tuned < pages // 20, f"tuned heap re-faulted {tuned} pages"


def test_env_form_carries_the_same_values() -> None:
    env = malloc_env()
    assert {name: int(value) for name, value in env.items()} == {e: v for _, v, e in SETTINGS.values()}
