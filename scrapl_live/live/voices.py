"""Polyphonic one-shot voices on the output's sample clock, with click-free re-rendering (splices).

Each voice sits in a preallocated slot at an absolute output sample (``start``): live mode starts a
voice in the next mixed block, file mode at its hit's onset plus the engine's look-ahead.  A voice
may arrive in pieces — its first samples, then the rest (:meth:`OneShotMixer.extend`) — and may be
re-rendered from any sample on (:meth:`OneShotMixer.splice`, a raised-cosine crossfade from the old
audio to the new over ``xfade`` samples, starting at the first sample not yet played).
"""

from __future__ import annotations

import numpy as np


class OneShotMixer:
    """Up to ``max_voices`` one-shots of at most ``max_len`` samples playing at once.

    A new voice takes a free slot, or steals the voice closest to its end.  ``t`` is the absolute output
    index of the next sample :meth:`mix_into` produces.
    """

    def __init__(self, max_voices: int = 8, max_len: int = 48000, fade: int = 64, xfade: int = 2048) -> None:
        if max_voices < 1 or max_len < 1:
            raise ValueError(f"max_voices and max_len must be >= 1, got {max_voices}, {max_len}")
        self.max_voices, self.max_len, self.fade = int(max_voices), int(max_len), int(fade)
        self._buf = np.zeros((max_voices, max_len), dtype=np.float32)
        self._len = np.zeros(max_voices, dtype=np.int64)  # samples in each slot
        self._start = np.zeros(max_voices, dtype=np.int64)  # absolute output index of each voice's sample 0
        self._ramp = np.linspace(1.0, 0.0, fade, dtype=np.float32)
        self.xfade = int(xfade)
        self._owner = np.zeros(max_voices, dtype=np.int64)  # token of the voice in each slot
        self._token = 0
        self.t = 0
        self.stolen = 0
        self.late_tails = 0  # extensions that came after their voice had run out (a gap)
        self.late_starts = 0  # voices asked to start at a sample already played (started at once)

    @property
    def active(self) -> int:
        """Number of voices still sounding (or waiting to start)."""
        return int(np.count_nonzero(self._start + self._len > self.t))

    def played(self, slot: int) -> int:
        """Samples of the voice in ``slot`` already mixed (0 before it starts)."""
        return int(np.clip(self.t - self._start[slot], 0, self._len[slot]))

    def length(self, slot: int) -> int:
        """Samples of the voice in ``slot`` so far."""
        return int(self._len[slot])

    def owns(self, slot: int, token: int) -> bool:
        """True while the voice started as (slot, token) still holds its slot."""
        return bool(self._owner[slot] == token)

    def trigger(self, audio: np.ndarray, gain: float = 1.0, at: int | None = None,
                final: bool = True) -> tuple[int, int]:
        """Play ``audio`` (n,) · gain from output sample ``at`` (None or past: the next mixed block).

        Returns (slot, token) for :meth:`extend` / :meth:`splice`.  final=False: ``audio`` is only the
        start of the voice (no fade-out); the rest follows by :meth:`extend`.
        """
        start = self.t if at is None else int(at)
        if start < self.t:
            self.late_starts += 1
            start = self.t
        free = np.flatnonzero(self._start + self._len <= self.t)
        if free.size:
            slot = int(free[0])
        else:
            slot = int(np.argmin(self._start + self._len))
            self.stolen += 1
        n = min(int(audio.shape[-1]), self.max_len)
        np.multiply(audio[:n], gain, out=self._buf[slot, :n])
        self._len[slot], self._start[slot] = n, start
        self._token += 1
        self._owner[slot] = self._token
        if final:
            self._fade_end(slot)
        return slot, self._token

    def extend(self, slot: int, token: int, audio: np.ndarray, offset: int = 0, gain: float = 1.0,
               final: bool = True) -> bool:
        """Append to the voice (slot, token) the part of ``audio`` past its end; ``audio`` holds the voice's
        samples from voice index ``offset`` (<= its current length).

        Returns False (and does nothing) when the slot has been given to another voice meanwhile.
        """
        start = int(self._len[slot])
        if not self.owns(slot, token) or offset > start:
            return False
        if self.played(slot) >= start and self.t > self._start[slot]:
            self.late_tails += 1
        n = min(offset + int(audio.shape[-1]), self.max_len)
        if n > start:
            np.multiply(audio[start - offset : n - offset], gain, out=self._buf[slot, start:n])
            self._len[slot] = n
        if final:
            self._fade_end(slot)
        return True

    def splice(self, slot: int, token: int, audio: np.ndarray, offset: int, gain: float = 1.0,
               final: bool = False) -> int:
        """Replace the voice (slot, token) from voice index ``offset`` (or its first unplayed sample, if
        later) on by ``audio`` · gain, where ``audio`` holds the new voice's samples from ``offset``.

        The old and new audio are crossfaded over ``xfade`` samples where both exist; the voice then ends
        with ``audio`` (final: with a fade-out, else more may follow by :meth:`extend`).  Returns the voice
        index where the new audio starts to sound (-1 when the slot belongs to another voice, or nothing
        was left).
        """
        if not self.owns(slot, token):
            return -1
        k = max(self.played(slot), int(offset))
        end = min(offset + int(audio.shape[-1]), self.max_len)
        if k >= end:
            return -1
        new = audio[k - offset : end - offset] * np.float32(gain)
        x = min(self.xfade, int(self._len[slot]) - k, new.size) if k > 0 else 0
        if x > 0:  # raised cosine from the old audio (sample k) to the new
            r = (0.5 - 0.5 * np.cos(np.pi * (np.arange(x) + 0.5) / x)).astype(np.float32)
            old = self._buf[slot, k : k + x]
            new[:x] = old + r * (new[:x] - old)
        self._buf[slot, k:end] = new
        self._len[slot] = end
        if final:
            self._fade_end(slot)
        return k

    def _fade_end(self, slot: int) -> None:
        n = int(self._len[slot])
        if n > self.fade:
            self._buf[slot, n - self.fade : n] *= self._ramp

    def mix_into(self, out: np.ndarray) -> None:
        """Add output samples [t, t + len(out)) of every voice to ``out`` (frames,) in place; advance t."""
        frames, t = out.shape[0], self.t
        for slot in np.flatnonzero((self._start + self._len > t) & (self._start < t + frames)):
            p = t - int(self._start[slot])  # voice index at the block's first sample (< 0: starts inside)
            a, b = max(p, 0), min(p + frames, int(self._len[slot]))
            out[a - p : b - p] += self._buf[slot, a:b]
        self.t = t + frames

    def clear(self) -> None:
        """Silence all voices."""
        self._len[:] = 0
