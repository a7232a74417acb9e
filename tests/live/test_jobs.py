"""JobQueue: results reach ``apply`` on the owner's thread, in order; failures cost only their result."""

from __future__ import annotations

import threading

from scrapl_live.live.jobs import JobQueue


def _queue(threaded: bool) -> tuple[JobQueue[int], list[tuple[int | None, str]], list[Exception]]:
    applied: list[tuple[int | None, str]] = []
    errors: list[Exception] = []
    jobs: JobQueue[int] = JobQueue(lambda r: applied.append((r, threading.current_thread().name)),
                                   errors.append, threaded=threaded)
    return jobs, applied, errors


def _fail() -> int:
    raise RuntimeError("boom")


def test_inline_jobs_apply_at_once() -> None:
    jobs, applied, errors = _queue(threaded=False)
    jobs.submit(lambda: 3)
    assert applied == [(3, threading.current_thread().name)] and jobs.outstanding == 0
    jobs.submit(_fail)
    assert applied[-1][0] is None and [str(e) for e in errors] == ["boom"] and jobs.outstanding == 0


def test_threaded_jobs_run_elsewhere_and_apply_on_the_owner_thread() -> None:
    jobs, applied, errors = _queue(threaded=True)
    ran_on: list[threading.Thread] = []
    gate = threading.Event()

    def job(i: int) -> int:
        gate.wait(5)
        ran_on.append(threading.current_thread())
        return i * i

    for i in range(5):
        jobs.submit(lambda i=i: job(i))
    jobs.submit(_fail)
    jobs.submit(lambda: 7)  # the job thread survives the failure
    jobs.apply_ready()
    assert applied == [] and jobs.outstanding == 7  # nothing finished while the gate is shut
    gate.set()
    jobs.drain(timeout_s=5)
    owner = threading.current_thread().name
    assert applied == [(0, owner), (1, owner), (4, owner), (9, owner), (16, owner), (None, owner), (7, owner)]
    assert len(set(ran_on)) == 1 and ran_on[0].name == "scrapl-jobs"
    assert len(errors) == 1 and jobs.outstanding == 0
    jobs.close()
    assert not ran_on[0].is_alive()
