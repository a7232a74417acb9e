"""SPSC ring buffer: FIFO order across wrap-around, capacity limits, and a two-thread stress run."""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np
import pytest

from scrapl_live.live.ringbuffer import RingBuffer


def test_fifo_matches_a_deque_across_wraparound() -> None:
    rng = np.random.default_rng(0)
    rb, ref = RingBuffer(37), deque()
    counter = 0
    for _ in range(500):
        n = int(rng.integers(0, 20))
        block = np.arange(counter, counter + n, dtype=np.float32)
        written = rb.write(block)
        assert written == min(n, 37 - len(ref))  # only what fits is taken
        ref.extend(block[:written].tolist())
        counter += n
        out = np.full(int(rng.integers(0, 20)), -1.0, dtype=np.float32)
        got = rb.read_into(out)
        assert got == min(out.size, len(ref))
        assert out[:got].tolist() == [ref.popleft() for _ in range(got)]
        assert np.all(out[got:] == -1.0)  # the unfilled tail is untouched
        assert rb.available() == len(ref) and rb.free() == 37 - len(ref)


def test_multichannel_and_bad_shapes() -> None:
    rb = RingBuffer(8, channels=2)
    rb.write(np.arange(6, dtype=np.float32).reshape(3, 2))
    out = np.zeros((3, 2), np.float32)
    assert rb.read_into(out) == 3
    np.testing.assert_array_equal(out, np.arange(6).reshape(3, 2))
    with pytest.raises(ValueError, match="block"):
        rb.write(np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="capacity"):
        RingBuffer(0)


def test_two_threads_see_every_sample_once_in_order() -> None:
    rb = RingBuffer(64)
    total = 30_000
    received = np.zeros(total, dtype=np.float32)

    def produce() -> None:
        sent = 0
        while sent < total:
            n = min(17, total - sent)
            w = rb.write(np.arange(sent, sent + n, dtype=np.float32))
            sent += w
            if w == 0:
                time.sleep(0)  # ring full: let the consumer run

    th = threading.Thread(target=produce)
    th.start()
    got = 0
    buf = np.zeros(23, dtype=np.float32)
    while got < total:
        n = rb.read_into(buf)
        received[got : got + n] = buf[:n]
        got += n
        if n == 0:
            time.sleep(0)
    th.join()
    np.testing.assert_array_equal(received, np.arange(total, dtype=np.float32))
