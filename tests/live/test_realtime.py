"""Real-time settings of live mode: SCHED_FIFO threads, GIL switch interval, frozen heap (restored after)."""

from __future__ import annotations

import gc
import os
import sys
import threading

import pytest

from scrapl_live.live.realtime import RealtimeSession, make_thread_realtime


def test_thread_gets_fifo_priority_or_reports_why_not() -> None:
    seen: dict[str, object] = {}

    def body() -> None:
        seen["ok"] = make_thread_realtime(2)
        seen["policy"] = os.sched_getscheduler(0)
        seen["priority"] = os.sched_getparam(0).sched_priority

    th = threading.Thread(target=body)
    th.start()
    th.join()
    if seen["ok"]:
        assert seen["policy"] == os.SCHED_FIFO and seen["priority"] == 2
    else:  # not permitted here (no root / no RLIMIT_RTPRIO): the thread keeps its ordinary policy
        assert seen["policy"] == os.SCHED_OTHER
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # only the calling thread changed


def test_session_sets_and_restores_interpreter_settings() -> None:
    before = sys.getswitchinterval()
    with RealtimeSession(0.0007):
        assert sys.getswitchinterval() == pytest.approx(0.0007)
        assert gc.get_freeze_count() > 0  # everything alive at stream start is out of the collector's sight
    assert sys.getswitchinterval() == pytest.approx(before)
    assert gc.get_freeze_count() == 0


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="priority"):
        make_thread_realtime(0)
    with pytest.raises(ValueError, match="switch_interval_s"):
        RealtimeSession(0.0)


def test_stream_rejects_a_bad_priority_before_opening_a_device(models: dict) -> None:
    pytest.importorskip("sounddevice", reason="PortAudio is not installed")
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.stream import LiveStream

    engine = Engine(models["tr808"], 48000, 256)
    with pytest.raises(ValueError, match="priority"):
        LiveStream(engine, priority=0)
