"""Benchmark: cost of the control outputs and the capture store against the bare library calls.

- MIDI hit (MidiSink.on_hit: 3 params 14-bit CCs + note-on) vs the same 7 messages through a bare
  rtmidi ``send_message`` loop; plus the JACK delivery time (call → message read back by an input).
  Needs a JACK server (``jackd --no-realtime -d dummy -r 48000 -p 256 &``); skipped otherwise.
- Plugin effect block (PluginSink.render, 256 frames, builtin:Reverb) vs calling the plugin directly.
- Capture (CaptureStore.add: hash, duplicate check, temp file, fsync, rename, fsync folder) vs a plain
  ``np.savez`` to a file (no fsync), for 0.5 s of audio at 44.1 kHz.

Interleaves ours and the peer in each round so both see the same machine load; prints a markdown table
of medians and p99 (µs) and the ratio ours/peer.

    python benchmarks/bench_control.py [--runs 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrapl_live.control import Mapping, MidiSink, PluginSink  # noqa: E402
from scrapl_live.control.devices import jack_server_running  # noqa: E402
from scrapl_live.finetune import CaptureStore  # noqa: E402

NAMES = ["a", "b", "c"]
MAPPING = Mapping.from_dict({"params": {n: {"cc": 20 + i, "bits": 14} for i, n in enumerate(NAMES)}})
SR = 48000


def _stats(us: list[float]) -> tuple[float, float]:
    a = np.asarray(us)
    return float(np.median(a)), float(np.percentile(a, 99))


def bench_midi(runs: int) -> list[tuple[str, list[float], list[float]]]:
    """(name, ours µs, peer µs) rows; empty when no JACK server runs."""
    os.environ["JACK_NO_START_SERVER"] = "1"
    if not jack_server_running():
        print("MIDI: no JACK server running, skipped")
        return []
    import rtmidi

    sink = MidiSink(MAPPING, NAMES, SR, client_name="bench-sink")
    raw = rtmidi.MidiOut(rtapi=rtmidi.API_UNIX_JACK, name="bench-raw")
    raw.open_virtual_port("out")
    rx = rtmidi.MidiIn(rtapi=rtmidi.API_UNIX_JACK, name="bench-rx")
    rx.open_port(rx.get_ports().index("bench-sink:out"))
    time.sleep(0.1)
    theta = np.array([0.1, 0.5, 0.9], np.float32)
    msgs = MAPPING.cc_bytes(theta, NAMES) + [MAPPING.note_on_bytes(0.8)]
    call_ours, call_raw, deliver = [], [], []
    for i in range(runs):
        t0 = time.perf_counter()
        sink.on_hit(i * SR, 0.8, theta, {})
        t1 = time.perf_counter()
        for m in msgs:
            raw.send_message(m)
        t2 = time.perf_counter()
        call_ours.append(1e6 * (t1 - t0))
        call_raw.append(1e6 * (t2 - t1))
        got = 0
        while got < len(msgs) + (1 if i else 0):  # + the previous hit's note-off
            if rx.get_message() is None:
                time.sleep(0.0002)
            else:
                got += 1
        deliver.append(1e6 * (time.perf_counter() - t0))
    sink.close()
    raw.delete()
    rx.delete()
    return [("MIDI hit: on_hit vs bare send_message x7", call_ours, call_raw),
            ("MIDI hit: call -> read back over JACK", deliver, deliver)]


def bench_plugin(runs: int) -> list[tuple[str, list[float], list[float]]]:
    mapping = Mapping.from_dict({"params": {"a": {"plugin": "room_size"}}})
    sink = PluginSink("builtin:Reverb", mapping, NAMES, SR)
    plugin = sink.plugin
    rng = np.random.default_rng(0)
    ours, peer = [], []
    for _ in range(runs):
        block = (0.1 * rng.standard_normal(256)).astype(np.float32)
        stereo = np.repeat(block[None], 2, 0)
        t0 = time.perf_counter()
        sink.render(block, 0)
        t1 = time.perf_counter()
        plugin(stereo, SR, buffer_size=256, reset=False)
        t2 = time.perf_counter()
        ours.append(1e6 * (t1 - t0))
        peer.append(1e6 * (t2 - t1))
    return [("Reverb block (256 frames): PluginSink.render vs plugin()", ours, peer)]


def bench_store(runs: int) -> list[tuple[str, list[float], list[float]]]:
    rng = np.random.default_rng(0)
    ours, peer = [], []
    with tempfile.TemporaryDirectory() as tmp:
        store = CaptureStore(Path(tmp) / "store", max_bytes=None)
        plain = Path(tmp) / "plain"
        plain.mkdir()
        for i in range(runs):
            audio = (0.1 * rng.standard_normal(22050)).astype(np.float32)
            theta = rng.uniform(size=14).astype(np.float32)
            t0 = time.perf_counter()
            store.add(audio, 44100, theta, {"i": i})
            t1 = time.perf_counter()
            np.savez(plain / f"{i}.npz", audio=audio, theta=theta)
            t2 = time.perf_counter()
            ours.append(1e6 * (t1 - t0))
            peer.append(1e6 * (t2 - t1))
    return [("capture 0.5 s: CaptureStore.add vs np.savez", ours, peer)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=300)
    args = parser.parse_args()
    rows = bench_midi(args.runs) + bench_plugin(args.runs) + bench_store(args.runs)
    print("| case | ours p50 µs | ours p99 µs | peer p50 µs | peer p99 µs | ratio p50 |")
    print("|---|---|---|---|---|---|")
    for name, ours, peer in rows:
        (o50, o99), (p50, p99) = _stats(ours), _stats(peer)
        ratio = f"{o50 / p50:.2f}" if ours is not peer else "-"
        peer_cols = f"{p50:.0f} | {p99:.0f}" if ours is not peer else "- | -"
        print(f"| {name} | {o50:.0f} | {o99:.0f} | {peer_cols} | {ratio} |")


if __name__ == "__main__":
    main()
