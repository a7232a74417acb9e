"""File mode: run the live :class:`Engine` block by block over a signal or file, with no audio device.

Inference runs inline (deterministic: the same file gives the same output), otherwise the path is the
live one — same detector, voices, sinks and block size — except for its timing: a file may be looked
ahead in, so the engine runs with ``lookahead=True`` (each hit analysed on the full window, its voice
placed exactly at its onset in an output delayed by ``Engine.delay``) and :func:`run_signal` removes
that delay, as a DAW compensates a plugin's latency.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scrapl_live.audio import load_audio, save_audio
from scrapl_live.live.engine import Engine
from scrapl_live.live.events import HitEvent

log = logging.getLogger(__name__)

FILE_SAMPLE_RATE = 44100
"""Engine rate in file mode; inputs at any rate are resampled to it."""


@dataclass
class OfflineResult:
    """What a file run produced: input and output (same rate, output longer by the tail) and the hits."""

    input: np.ndarray
    output: np.ndarray
    sample_rate: int
    engine: Engine


def run_signal(engine: Engine, audio: np.ndarray, tail_s: float = 1.0, progress: bool = False) -> np.ndarray:
    """Feed ``audio`` (N,) at ``engine.sample_rate`` through ``engine``; return its output (N + tail,).

    The input is zero-padded by ``tail_s`` seconds plus the engine's output delay (and to whole blocks)
    so late hits and ringing voices finish; the output, shifted back by that delay (latency
    compensation: output sample i belongs to input sample i), is trimmed to N + tail samples.
    """
    x = np.asarray(audio, dtype=np.float32).reshape(-1)
    if x.size == 0:
        raise ValueError("audio is empty")
    bs, delay = engine.block_size, engine.delay
    total = x.size + int(tail_s * engine.sample_rate)
    n_blocks = -(-(total + delay) // bs)
    padded = np.zeros(n_blocks * bs, dtype=np.float32)
    padded[: x.size] = x
    out = np.empty_like(padded)
    blocks = range(n_blocks)
    if progress:
        from tqdm import tqdm

        blocks = tqdm(blocks, desc="resynth", unit="block", leave=False)
    for b in blocks:
        out[b * bs : (b + 1) * bs] = engine.process_block(padded[b * bs : (b + 1) * bs])
    engine.drain()
    return out[delay : delay + total]


def run_blocks(engine: Engine, audio: np.ndarray) -> tuple[np.ndarray, list[HitEvent]]:
    """Feed the whole blocks of ``audio`` (N,) through ``engine`` as a sound card would (no padding, no
    delay compensation), then drain and close it.

    Returns the output (n_blocks·B,) and the latest version of every prediction (one per hit or texture
    frame), by time; ``recent_hits`` is read after each block, so a run longer than the engine's history
    still returns them all.
    """
    bs = engine.block_size
    frames: dict[int, HitEvent] = {}
    out = []
    for i in range(0, audio.size - bs + 1, bs):
        out.append(engine.process_block(audio[i : i + bs]).copy())
        frames.update({e.hit_id: e for e in engine.recent_hits})
    engine.drain()
    engine.close()
    return np.concatenate(out), sorted(frames.values(), key=lambda e: e.t_samples)


def resynth_file(
    path: str | Path,
    model: str | Path,
    out_path: str | Path | None = None,
    sinks: list[object] | None = None,
    block_size: int = 256,
    threads: int = 1,
    sample_rate: int = FILE_SAMPLE_RATE,
    play_voices: bool = True,
    progress: bool = False,
) -> OfflineResult:
    """Resynthesise an audio file (WAV/FLAC/MP3/OGG, any rate, mono or stereo) through the engine.

    Writes ``out_path`` (WAV) when given; sinks (e.g. a MIDI file writer) see every hit. Returns the
    input, output and the engine (its ``recent_hits``, ``n_hits`` and ``latency``).
    """
    audio, sr = load_audio(path, sample_rate=sample_rate)
    if float(np.max(np.abs(audio))) == 0.0:
        log.warning("%s is silent: nothing to detect", path)
    engine = Engine(model, sr, block_size=block_size, sinks=sinks or [], play_voices=play_voices,
                    threads=threads, lookahead=True)
    try:
        out = run_signal(engine, audio, progress=progress)
    finally:
        engine.close()
    if out_path is not None:
        save_audio(out_path, out, sr)
    return OfflineResult(audio, out, sr, engine)
