"""Real-time mode: a sounddevice duplex stream around the :class:`Engine`.

The audio callback only copies: input channel → input ring buffer, output ring buffer → every output
channel (silence when the engine is late, counted as an underrun), and counts the xruns PortAudio
reports.  It allocates no arrays, takes no locks, does no I/O and runs no model.  A worker thread
moves whole blocks from the input ring through ``Engine.process_block`` into the output ring; while the
stream runs, :mod:`scrapl_live.live.realtime` settings keep the callback from waiting on the GIL (the
worker runs SCHED_FIFO when the OS allows it, pass ``priority=None`` to keep it ordinary).
sounddevice (PortAudio) is imported here only, so file mode works without it.
"""

from __future__ import annotations

import ctypes
import logging
import threading
import time
from typing import Any

import numpy as np

from scrapl_live.live.engine import Engine
from scrapl_live.live.realtime import BLOCK_PRIORITY, RealtimeSession, make_thread_realtime
from scrapl_live.live.ringbuffer import RingBuffer

log = logging.getLogger(__name__)

_JACK_NAME: ctypes.c_char_p | None = None  # kept alive: PortAudio stores the pointer


def set_jack_client_name(name: str) -> None:
    """Name PortAudio's JACK client (default "PortAudio") so our ports are findable; re-initialises PortAudio.

    Must be called before the stream opens; a PortAudio without JACK support ignores it.
    """
    global _JACK_NAME
    import sounddevice as sd

    lib = ctypes.CDLL(sd._libname)
    if not hasattr(lib, "PaJack_SetClientName"):
        log.debug("PortAudio has no JACK support; client name %r ignored", name)
        return
    _JACK_NAME = ctypes.c_char_p(name.encode())
    sd._terminate()
    lib.PaJack_SetClientName(_JACK_NAME)
    sd._initialize()


def resolve_device(spec: str | int | None, kind: str) -> int | None:
    """Audio device index for ``spec`` (index or unique name substring); ValueError naming it if absent."""
    import sounddevice as sd

    if spec is None:
        return None
    devices = sd.query_devices()
    key = f"max_{kind}_channels"
    if isinstance(spec, int) or str(spec).isdigit():
        idx = int(spec)
        if not 0 <= idx < len(devices) or devices[idx][key] < 1:
            raise ValueError(f"{kind} device {spec!r}: no {kind} device with that index")
        return idx
    matches = [i for i, d in enumerate(devices) if d[key] > 0 and str(spec).lower() in d["name"].lower()]
    if len(matches) != 1:
        names = [d["name"] for d in devices if d[key] > 0]
        raise ValueError(f"{kind} device {spec!r}: {len(matches)} matches among {names}")
    return matches[0]


class DuplexRings:
    """The audio callback and the two rings it copies between (separate from PortAudio, so testable).

    ``callback(indata (frames, ≥1), outdata (frames, C), frames, time_info, status)`` is the sounddevice
    callback: input channel 0 → ``in_ring``; ``out_ring`` → output channel 0, copied to the others.
    """

    def __init__(self, block_size: int, ring_blocks: int = 32, max_queue_blocks: int = 1) -> None:
        """max_queue_blocks: output blocks allowed to wait in the ring; older ones are dropped, so a
        late engine block (an underrun) does not add a block of latency for the rest of the session."""
        self.in_ring = RingBuffer(ring_blocks * block_size)
        self.out_ring = RingBuffer(ring_blocks * block_size)
        self.xruns = 0  # PortAudio-reported over/underflows
        self.underruns = 0  # callbacks where the engine had not delivered the block yet
        self.callbacks = 0
        self.dropped = 0  # output frames dropped to keep the latency bounded
        self.max_queue = max_queue_blocks * block_size
        self.armed = False  # count underruns only once the engine runs

    def callback(self, indata: np.ndarray, outdata: np.ndarray, frames: int, time_info: Any,
                 status: Any) -> None:
        """PortAudio thread: copies only — no allocation of sample buffers, no locks, no I/O."""
        self.callbacks += 1
        if status:
            self.xruns += 1
        self.in_ring.write(indata[:, 0])
        excess = self.out_ring.available() - self.max_queue
        if excess > 0:
            self.dropped += self.out_ring.discard(excess)
        got = self.out_ring.read_into(outdata[:, 0])
        if got < frames:
            outdata[got:, 0] = 0.0
            if self.armed:
                self.underruns += 1
        for c in range(1, outdata.shape[1]):  # per channel: a 2-D slice assignment would copy via a temp
            np.copyto(outdata[:, c], outdata[:, 0])


class LiveStream:
    """Runs ``engine`` on a duplex PortAudio stream at the engine's rate and block size.

    input_device/output_device: see :func:`resolve_device`; channels: output channels to fill.
    ``ring_blocks`` blocks of ring capacity; ``queue_blocks``: output blocks that may wait for the
    callback (1 = lowest latency; more absorbs worker jitter at one block of latency each).
    """

    def __init__(self, engine: Engine, input_device: str | int | None = None,
                 output_device: str | int | None = None, channels: int = 1, ring_blocks: int = 32,
                 queue_blocks: int = 1, jack_client_name: str | None = None,
                 priority: int | None = BLOCK_PRIORITY) -> None:
        import sounddevice as sd

        if jack_client_name:
            set_jack_client_name(jack_client_name)
        self.engine = engine
        bs = engine.block_size
        if not 1 <= queue_blocks < ring_blocks:
            raise ValueError(f"queue_blocks must be in [1, {ring_blocks}), got {queue_blocks}")
        if priority is not None and not (isinstance(priority, int) and 1 <= priority <= 99):
            raise ValueError(f"priority must be None or an int in [1, 99], got {priority!r}")
        self.rings = DuplexRings(bs, ring_blocks, queue_blocks)
        self._in_block = np.zeros(bs, dtype=np.float32)
        self._running = False
        self._worker: threading.Thread | None = None
        self.priority = priority
        self.realtime = False  # whether the worker got its SCHED_FIFO priority
        self._session = RealtimeSession()
        try:
            self.stream = sd.Stream(
                samplerate=engine.sample_rate, blocksize=bs, dtype="float32",
                channels=(1, channels), callback=self.rings.callback,
                device=(resolve_device(input_device, "input"), resolve_device(output_device, "output")),
            )
        except sd.PortAudioError as exc:
            raise RuntimeError(f"cannot open the audio stream: {exc}") from exc

    def _work(self) -> None:
        bs = self.engine.block_size
        rings = self.rings
        if self.priority is not None:
            self.realtime = make_thread_realtime(self.priority)
        while self._running:
            if rings.in_ring.available() < bs:
                time.sleep(0.0005)
                continue
            rings.in_ring.read_into(self._in_block)
            rings.armed = True
            self.engine.xruns, self.engine.underruns = rings.xruns, rings.underruns  # for views
            try:
                out = self.engine.process_block(self._in_block)
            except Exception as exc:  # never let one bad block stop the stream
                log.error("engine block failed: %s", exc)
                out = np.zeros(bs, dtype=np.float32)
            if rings.out_ring.write(out) < bs:
                log.warning("output ring full: block dropped")

    @property
    def device_latency_ms(self) -> float:
        """Input + output latency PortAudio reports for the open stream (ms)."""
        lat = self.stream.latency
        return 1e3 * float(sum(lat) if isinstance(lat, tuple | list) else 2 * lat)

    @property
    def xruns(self) -> int:
        """PortAudio-reported over/underflows so far."""
        return self.rings.xruns

    @property
    def underruns(self) -> int:
        """Callbacks that found no engine output ready (played silence)."""
        return self.rings.underruns

    def start(self) -> None:
        """Start the worker thread and the stream."""
        self._session.__enter__()
        self._running = True
        self._worker = threading.Thread(target=self._work, name="scrapl-engine", daemon=True)
        self._worker.start()
        try:
            self.stream.start()
        except Exception:
            self._running = False
            self._session.__exit__(None, None, None)
            raise

    def stop(self) -> None:
        """Stop the stream and the worker; the engine stays open (call ``engine.close()``)."""
        self._running = False
        self.stream.stop()
        self.stream.close()
        if self._worker is not None:
            self._worker.join(timeout=2)
        self._session.__exit__(None, None, None)

    def __enter__(self) -> LiveStream:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
