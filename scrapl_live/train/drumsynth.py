"""Render DrumSynth presets (``.ds``) to one-shots: the electronic drum designs of ``lmms-common``.

A ``.ds`` file is an INI text describing one drum as a sum of sections, each with its own
piecewise-linear envelope (``t,level`` pairs: t in samples at 44.1 kHz, level 0–100):

- ``[Tone]``: a sine whose pitch falls from ``F1`` to ``F2`` Hz over the envelope (``Droop`` 0–100
  bends the fall from linear to a fast exponential drop), starting at ``Phase`` degrees — a kick or tom
  body;
- ``[Noise]``: white noise tilted by ``Slope`` (−100 dark … +100 bright);
- ``[Overtones]``: two oscillators (``F1``, ``F2``; ``Wave`` 0 sine, 1 signed sine², 2 triangle,
  3 sawtooth, 4 square; ``Track`` follows the tone's pitch fall) combined by ``Method`` (0 sum, 1 phase
  modulation of the first by the second, 2 ring modulation, 3 amplitude modulation; ``Param`` 0–100 is
  the depth) — metallic hat and cymbal partials;
- ``[NoiseBand]``, ``[NoiseBand2]``: noise in a band of ``dF`` % around ``F`` Hz;
- ``[General]``: ``Tuning`` (semitones, every pitch), ``Stretch`` (% of every envelope time, 0 read as
  100), and a resonant low- or high-pass (``Filter``, ``HighPass``, ``Resonance``, ``FilterEnv`` 0–100
  mapped to 20 Hz–20 kHz) on the noise and on overtones marked ``Filter=1``;
- ``[Distortion]``: ``Clipping`` dB of drive into a hard clip, ``Bits`` of bit reduction, ``Rate``
  (each sample held ``Rate + 1`` times).

Section levels are linear with 128 as unity. This is our reading of the format's parameters, not a
sample-exact replica of the DrumSynth program: the presets serve as many hand-made electronic drum
designs (kicks with a pitch drop, 808-style hats and claps) for the drum-class head's training set.
"""

from __future__ import annotations

import configparser
from pathlib import Path

import numpy as np
from scipy.signal import lfilter

SAMPLE_RATE = 44100
FILTER_BLOCK = 128


def read_preset(path: str | Path) -> configparser.ConfigParser:
    """The preset's sections; a file that is not an INI text with a ``[General]`` section is a ValueError."""
    ini = configparser.ConfigParser(strict=False, interpolation=None)
    ini.optionxform = str
    try:
        ini.read_string(Path(path).read_text(encoding="latin-1"))
    except configparser.Error as exc:
        raise ValueError(f"{path}: not a DrumSynth preset ({exc.__class__.__name__})") from None
    if not ini.has_section("General"):
        raise ValueError(f"{path}: not a DrumSynth preset (no [General] section)")
    return ini


def _points(spec: str) -> np.ndarray:
    """(2, P) times (samples) and levels (0–100) of an envelope's ``t,level`` points."""
    pts = [tuple(float(v) for v in p.split(",")) for p in spec.split() if "," in p]
    return np.array(pts, dtype=float).reshape(-1, 2).T


def envelope(spec: str, stretch: float, n: int) -> np.ndarray:
    """(n,) gain in [0, 1] through the ``t,level`` points of ``spec``, times scaled by ``stretch``."""
    t, lvl = _points(spec)
    if not t.size:
        return np.zeros(n)
    return np.interp(np.arange(n), np.maximum.accumulate(t * stretch), lvl / 100.0, right=0.0)


def envelope_end(spec: str, stretch: float) -> float:
    """Sample index of the envelope's last point."""
    return float(_points(spec)[0].max(initial=0.0)) * stretch


def _wave(phase: np.ndarray, kind: int) -> np.ndarray:
    """Oscillator of ``kind`` (0 sine, 1 signed sine², 2 triangle, 3 sawtooth, 4 square) at ``phase`` rad."""
    s = np.sin(phase)
    frac = np.mod(phase / (2 * np.pi), 1.0)
    shapes = {1: np.sign(s) * s * s, 2: 1.0 - 4.0 * np.abs(frac - 0.5), 3: 2.0 * frac - 1.0, 4: np.sign(s)}
    return shapes.get(kind, s)


def _tone_freq(sec: configparser.SectionProxy, tune: float, stretch: float, n: int) -> np.ndarray:
    """(n,) Hz of the tone: F1 falling to F2 at the envelope's end, the fall bent by Droop."""
    f1, f2 = tune * sec.getfloat("F1", 200.0), tune * sec.getfloat("F2", 120.0)
    end = max(envelope_end(sec.get("Envelope", ""), stretch), 1.0)
    x = np.minimum(np.arange(n) / end, 1.0)
    droop = sec.getfloat("Droop", 0.0)
    if droop <= 0:
        return f1 + (f2 - f1) * x
    k = 4.0 * 10.0 ** ((droop - 20.0) / 30.0)
    return f2 + (f1 - f2) * (np.exp(-k * x) - np.exp(-k)) / (1.0 - np.exp(-k))


def _phase(freq: np.ndarray, start: float = 0.0) -> np.ndarray:
    return start + 2 * np.pi * np.cumsum(freq) / SAMPLE_RATE


def _tilt(noise: np.ndarray, slope: float) -> np.ndarray:
    """White noise darkened (slope < 0, one-pole low-pass) or brightened (slope > 0, first difference)."""
    a = float(np.clip(slope / 100.0, -0.98, 1.0))
    if a < 0:
        return lfilter([1.0 + a], [1.0, a], noise)
    return (1.0 - a) * noise + a * np.diff(noise, prepend=0.0)


def _band_noise(rng: np.random.Generator, centre: float, width_pct: float, n: int) -> np.ndarray:
    """Noise in a band ``width_pct`` % wide around ``centre`` Hz: low-passed noise shifted up by a carrier."""
    half = max(centre * width_pct / 200.0, 5.0)
    a = np.exp(-2 * np.pi * half / SAMPLE_RATE)
    low = lfilter([1 - a], [1, -a], lfilter([1 - a], [1, -a], rng.standard_normal(n)))
    low /= np.sqrt(np.mean(low**2)) + 1e-12
    return low * np.cos(_phase(np.full(n, centre)))


def _filtered(x: np.ndarray, general: configparser.SectionProxy, stretch: float) -> np.ndarray:
    """``x`` through the master resonant filter, its cutoff following FilterEnv block by block."""
    cutoff = 20.0 * 1000.0 ** envelope(general.get("FilterEnv", "0,100 1,100"), stretch, len(x))
    q = 0.707 + general.getfloat("Resonance", 0.0) / 10.0
    high = general.getint("HighPass", 0) == 1
    out, zi = np.empty_like(x), np.zeros(2)
    for i in range(0, len(x), FILTER_BLOCK):
        w = 2 * np.pi * min(float(cutoff[i]), 0.45 * SAMPLE_RATE) / SAMPLE_RATE
        alpha, c = np.sin(w) / (2 * q), np.cos(w)
        b = np.array([1 + c, -2 * (1 + c), 1 + c] if high else [1 - c, 2 * (1 - c), 1 - c]) / 2
        a = np.array([1 + alpha, -2 * c, 1 - alpha])
        out[i : i + FILTER_BLOCK], zi = lfilter(b / a[0], a / a[0], x[i : i + FILTER_BLOCK], zi=zi)
    return out


def _overtones(
    sec: configparser.SectionProxy,
    tone_ratio: np.ndarray,
    tune: float,
    stretch: float,
) -> np.ndarray:
    """(n,) the two oscillators combined by Method; ``tone_ratio`` (n,) is the tone's pitch over its start."""
    n = len(tone_ratio)
    osc = []
    for k in ("1", "2"):
        freq = tune * sec.getfloat(f"F{k}", 200.0) * (tone_ratio if sec.getint(f"Track{k}", 0) else 1.0)
        osc.append((freq, sec.getint(f"Wave{k}", 0), envelope(sec.get(f"Envelope{k}", ""), stretch, n)))
    (f1, w1, e1), (f2, w2, e2) = osc
    depth = sec.getfloat("Param", 50.0) / 100.0
    method = sec.getint("Method", 0)
    if method == 1:
        return e1 * _wave(_phase(f1) + 2 * np.pi * depth * e2 * _wave(_phase(f2), w2), w1)
    if method == 2:
        return e1 * e2 * _wave(_phase(f1), w1) * _wave(_phase(f2), w2)
    if method == 3:
        return e1 * _wave(_phase(f1), w1) * (1.0 - depth + depth * e2 * _wave(_phase(f2), w2))
    return e1 * _wave(_phase(f1), w1) + e2 * _wave(_phase(f2), w2)


def _distort(x: np.ndarray, sec: configparser.SectionProxy) -> np.ndarray:
    x = np.clip(x * 10.0 ** (sec.getfloat("Clipping", 0.0) / 20.0), -1.0, 1.0)
    bits = sec.getint("Bits", 0)
    if bits > 0:
        step = 2.0 ** (bits - 8)
        x = np.round(x / step) * step
    hold = sec.getint("Rate", 0) + 1
    return np.repeat(x[::hold], hold)[: len(x)]


def render(path: str | Path, seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    """(n,) float64 one-shot of the preset at 44.1 kHz, as long as its longest envelope (≤ ``seconds``).

    Raises ValueError for a file that is not a preset or a preset with no sound.
    """
    ini = read_preset(path)
    general = ini["General"]
    tune = 2.0 ** (general.getfloat("Tuning", 0.0) / 12.0)
    stretch = general.getfloat("Stretch", 100.0) / 100.0 or 1.0  # a zero stretch means the default
    on = [s for s in ini.sections() if s not in ("General", "Distortion") and ini[s].getint("On", 0) == 1]
    ends = [envelope_end(v, stretch) for s in on for k, v in ini[s].items() if k.startswith("Envelope")]
    n = int(min(max(ends, default=0.0), seconds * SAMPLE_RATE))
    if n < 16:
        raise ValueError(f"{path}: the preset makes no sound")
    rng = np.random.default_rng(seed)
    level = {s: ini[s].getfloat("Level", 128.0) / 128.0 for s in on}

    def env(sec: configparser.SectionProxy) -> np.ndarray:
        return envelope(sec.get("Envelope", ""), stretch, n)

    direct, filtered = np.zeros(n), np.zeros(n)
    tone_freq = _tone_freq(ini["Tone"], tune, stretch, n) if ini.has_section("Tone") else np.ones(n)
    if "Tone" in on:
        sec = ini["Tone"]
        direct += level["Tone"] * env(sec) * np.sin(_phase(tone_freq, np.deg2rad(sec.getfloat("Phase", 0.0))))
    if "Noise" in on:
        sec = ini["Noise"]
        noise = _tilt(rng.uniform(-1.0, 1.0, n), sec.getfloat("Slope", 0.0))
        filtered += level["Noise"] * env(sec) * noise
    if "Overtones" in on:
        sec = ini["Overtones"]
        part = level["Overtones"] * _overtones(sec, tone_freq / max(tone_freq[0], 1e-3), tune, stretch)
        if sec.getint("Filter", 0):
            filtered += part
        else:
            direct += part
    for band in ("NoiseBand", "NoiseBand2"):
        if band in on:
            sec = ini[band]
            noise = _band_noise(rng, tune * sec.getfloat("F", 1000.0), sec.getfloat("dF", 50.0), n)
            direct += level[band] * env(sec) * noise
    out = direct + (_filtered(filtered, general, stretch) if general.getint("Filter", 0) else filtered)
    if ini.has_section("Distortion") and ini["Distortion"].getint("On", 0) == 1:
        out = _distort(out / (np.abs(out).max() + 1e-12), ini["Distortion"])
    if not np.isfinite(out).all() or np.abs(out).max() < 1e-6:
        raise ValueError(f"{path}: the preset makes no sound")
    return out
