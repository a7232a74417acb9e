"""Single-producer / single-consumer ring buffer of float32 samples, safe without locks.

One thread only writes, one only reads.  Each side owns one counter (total frames written / read,
monotonically increasing) and publishes it with a single attribute assignment, which is atomic in
CPython; the writer updates its counter only after the samples are in place, and the reader only
after it copied them out, so neither side ever sees half-written data.  ``write``/``read_into`` copy
with ``np.copyto`` into views of preallocated storage: no array allocation on the audio path.
"""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Lock-free SPSC FIFO of ``capacity`` frames × ``channels`` float32 samples.

    Storage shape (capacity, channels); blocks passed in or out are (frames, channels) or, for one
    channel, (frames,).
    """

    def __init__(self, capacity: int, channels: int = 1) -> None:
        if not isinstance(capacity, int) or capacity <= 0:
            raise ValueError(f"capacity must be a positive int, got {capacity!r}")
        if not isinstance(channels, int) or channels <= 0:
            raise ValueError(f"channels must be a positive int, got {channels!r}")
        self.capacity = capacity
        self.channels = channels
        self._buf = np.zeros((capacity, channels), dtype=np.float32)
        self._written = 0  # owned by the producer
        self._read = 0  # owned by the consumer

    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def free(self) -> int:
        """Frames that can be written without overwriting unread data."""
        return self.capacity - (self._written - self._read)

    @property
    def frames_written(self) -> int:
        """Total frames ever written (the producer's clock)."""
        return self._written

    @property
    def frames_read(self) -> int:
        """Total frames ever read (the consumer's clock)."""
        return self._read

    def _as2d(self, block: np.ndarray, name: str) -> np.ndarray:
        if block.ndim == 1 and self.channels == 1:
            return block.reshape(-1, 1)
        if block.ndim != 2 or block.shape[1] != self.channels:
            raise ValueError(f"{name} must be (frames, {self.channels}), got shape {block.shape}")
        return block

    def write(self, block: np.ndarray) -> int:
        """Producer: append as many frames of ``block`` as fit; returns the number written (rest dropped)."""
        blk = self._as2d(block, "block")
        n = min(blk.shape[0], self.capacity - (self._written - self._read))
        if n <= 0:
            return 0
        start = self._written % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(self._buf[start : start + first], blk[:first])
        if n > first:
            np.copyto(self._buf[: n - first], blk[first:n])
        self._written += n  # publish after the data is in place
        return n

    def read_into(self, out: np.ndarray) -> int:
        """Consumer: fill ``out`` with up to len(out) frames; returns frames copied (rest untouched)."""
        dst = self._as2d(out, "out")
        n = min(dst.shape[0], self._written - self._read)
        if n <= 0:
            return 0
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        np.copyto(dst[:first], self._buf[start : start + first])
        if n > first:
            np.copyto(dst[first:n], self._buf[: n - first])
        self._read += n  # release the space after the copy
        return n

    def discard(self, n: int) -> int:
        """Consumer: drop up to ``n`` of the oldest frames without copying; returns frames dropped."""
        n = max(0, min(int(n), self._written - self._read))
        self._read += n
        return n
