"""Plugin host with real plugins: pedalboard built-ins and our DPF VST3 effect and instrument."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from scrapl_live.control.mapping import Mapping
from scrapl_live.control.plugins import (
    BUILTIN_RANGES,
    PluginSink,
    load_plugin,
    parameter_names,
    parameter_range,
)
from tests.control.hits import event

SR = 48000


def _rms_db(x: np.ndarray) -> float:
    return 20 * math.log10(float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))))


def _noise(n: int, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(n)).astype(np.float32)


def test_builtin_parameters_follow_predictions() -> None:
    names = ["cut", "res", "level"]
    mapping = Mapping.from_dict({"params": {
        "cut": {"plugin": "cutoff_hz", "range": [100.0, 10000.0], "scale": "log"},
        "res": {"plugin": "resonance"},
    }})
    sink = PluginSink("builtin:LadderFilter", mapping, names, SR)
    for theta in ([0.5, 0.3, 0.0], [0.0, 1.0, 0.5], [0.87, 0.01, 1.0]):
        set_ = sink.set_params(np.array(theta, np.float32))
        cutoff = 100.0 * 100.0 ** np.float32(theta[0])  # log map of [100, 10000]
        assert sink.plugin.cutoff_hz == pytest.approx(cutoff, rel=1e-5)
        assert sink.plugin.resonance == pytest.approx(theta[1], abs=1e-6)  # default range (0, 1)
        assert set_["cutoff_hz"] == pytest.approx(sink.plugin.cutoff_hz, rel=1e-6)
    reverb_map = Mapping.from_dict({"params": {"res": {"plugin": "room_size"}}})
    reverb = PluginSink("builtin:Reverb", reverb_map, names, SR)
    reverb.on_params(0, np.array([0.0, 0.42, 0.0], np.float32), {})
    assert reverb.plugin.room_size == pytest.approx(0.5)  # untouched until the next block boundary
    reverb.render(np.zeros(256, np.float32), 0)
    assert reverb.plugin.room_size == pytest.approx(0.42, abs=1e-6)
    # a hit and its refinement at sample 300: set in the block holding 300 (the latest prediction wins)
    reverb.on_hit(event(300, 1.0, [0.0, 0.1, 0.0], final=False))
    reverb.on_refine(event(300, 1.0, [0.0, 0.8, 0.0], stage=1))
    reverb.render(np.zeros(256, np.float32), 0)
    assert reverb.plugin.room_size == pytest.approx(0.42, abs=1e-6)
    reverb.render(np.zeros(256, np.float32), 256)
    assert reverb.plugin.room_size == pytest.approx(0.8, abs=1e-6)


def test_builtin_gain_changes_rms_by_mapped_db() -> None:
    names = ["level"]
    mapping = Mapping.from_dict({"params": {"level": {"plugin": "gain_db"}}})
    sink = PluginSink("builtin:Gain", mapping, names, SR)
    lo, hi = BUILTIN_RANGES["Gain"]["gain_db"]
    for theta in (0.75, 0.5, 0.9):
        sink.on_hit(event(0, 1.0, np.array([theta], np.float32)))
        x = _noise(SR)
        block = x.copy()
        sink.render(block, 0)  # an effect processes the engine block in place
        expected_db = lo + (hi - lo) * theta
        half = SR // 2  # skip any gain smoothing at the start
        assert _rms_db(block[half:]) - _rms_db(x[half:]) == pytest.approx(expected_db, abs=0.01)


def test_plugin_spec_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown built-in 'Reverbb'"):
        load_plugin("builtin:Reverbb")
    with pytest.raises(FileNotFoundError, match="nothing.vst3"):
        load_plugin(tmp_path / "nothing.vst3")
    mapping = Mapping.from_dict({"params": {"a": {"plugin": "room_sise"}}})
    with pytest.raises(ValueError, match=r"params\.a\.plugin = 'room_sise'.*room_size"):
        PluginSink("builtin:Reverb", mapping, ["a"], SR)


def test_vst3_effect_gain_and_one_pole(vst3_dir: Path) -> None:
    plugin = load_plugin(vst3_dir / "ScraplTestGain.vst3")
    assert parameter_names(plugin) == ["gain_db", "cutoff_hz"]
    assert parameter_range(plugin, "gain_db") == (-24.0, 24.0)
    assert parameter_range(plugin, "cutoff_hz") == (20.0, 20000.0)
    names = ["drive", "tone"]
    mapping = Mapping.from_dict({"params": {
        "drive": {"plugin": "gain_db"},
        "tone": {"plugin": "cutoff_hz", "range": [100.0, 20000.0], "scale": "log"},
    }})
    sink = PluginSink(plugin, mapping, names, SR)
    # tone = 1 -> 20 kHz: the C++ code bypasses the filter; drive = 0.25 -> -12 dB
    sink.set_params(np.array([0.25, 1.0], np.float32))
    assert plugin.gain_db == pytest.approx(-12.0, abs=1e-3)
    assert plugin.cutoff_hz == pytest.approx(20000.0, rel=1e-4)
    x = _noise(SR // 4, seed=3)
    y = sink.process(x)
    assert _rms_db(y) - _rms_db(x) == pytest.approx(-12.0, abs=0.01)
    # one-pole low-pass at fc: |H(f)| = a / |1 - (1 - a) e^{-j 2 pi f / fs}|, a = 1 - exp(-2 pi fc / fs)
    theta_tone = 0.5
    sink.set_params(np.array([0.5, theta_tone], np.float32))  # drive 0.5 -> 0 dB
    fc = float(plugin.cutoff_hz)
    # pedalboard resolves a VST3 value on the parameter's value grid (~1000 steps over its range)
    assert abs(fc - 100.0 * 200.0 ** theta_tone) <= (20000 - 20) / 1000
    a = 1 - math.exp(-2 * math.pi * fc / SR)
    for f in (200.0, 1414.0, 6000.0):
        t = np.arange(SR // 2) / SR
        sine = np.sin(2 * np.pi * f * t).astype(np.float32)
        out = np.concatenate([sink.process(sine[i:i + 512]) for i in range(0, len(sine), 512)])
        gain = abs(a / (1 - (1 - a) * np.exp(-2j * np.pi * f / SR)))
        steady = slice(SR // 4, None)
        measured = np.sqrt(2 * np.mean(out[steady].astype(np.float64) ** 2))
        assert measured == pytest.approx(gain, rel=0.01)


def test_vst3_instrument_pitch_and_decay(vst3_dir: Path) -> None:
    names = ["decay", "other"]
    mapping = Mapping.from_dict({
        "midi": {"note": 81, "note_length": 1.0},
        "params": {"decay": {"plugin": "decay_s", "range": [0.05, 0.5], "scale": "log"}},
    })
    sink = PluginSink(vst3_dir / "ScraplTestSine.vst3", mapping, names, SR)
    assert sink.is_instrument and parameter_names(sink.plugin) == ["decay_s"]  # DPF's MIDI-CC proxies hidden
    assert parameter_range(sink.plugin, "decay_s") == (0.01, 2.0)
    with pytest.raises(ValueError, match="instrument"):
        sink.process(np.zeros(16, np.float32))

    def render(theta_decay: float, hit_at: int) -> np.ndarray:
        sink.close()  # reset between takes
        sink.on_hit(event(hit_at, 1.0, np.array([theta_decay, 0.0], np.float32)))
        out = np.zeros(SR // 2, np.float32)
        for i in range(0, len(out), 512):
            sink.render(out[i:i + 512], i)
        return out

    y = render(0.0, hit_at=1000)  # decay 0.05 s
    onset = int(np.flatnonzero(np.abs(y) > 1e-6)[0])
    assert abs(onset - 1001) <= 1  # sin(0) = 0 at the note-on sample, so the first non-zero is one later
    seg = y[onset:onset + SR // 10].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)), n=8 * len(seg)))
    f_peak = np.argmax(spec) * SR / (8 * len(seg))
    assert f_peak == pytest.approx(440 * 2 ** ((81 - 69) / 12), abs=2.0)  # note 81 = 880 Hz

    def envelope_ratio(x: np.ndarray, t1: float, t2: float) -> float:
        def peak(t: float) -> float:
            i = onset + int(t * SR)
            return float(np.abs(x[i:i + 240]).max())  # 5 ms window spans >= 4 periods of 880 Hz

        return peak(t2) / peak(t1)

    for theta in (0.0, 0.5, 1.0):
        y = render(theta, hit_at=1000)
        decay = float(sink.plugin.decay_s)
        assert abs(decay - 0.05 * 10.0 ** theta) <= (2.0 - 0.01) / 1000  # within the value grid step
        # amplitude exp(-t / decay): the ratio over 40 ms is exp(-0.04 / decay); window peaks are taken at
        # the window start (decaying), so compare with that closed form within a few per cent
        assert envelope_ratio(y, 0.01, 0.05) == pytest.approx(math.exp(-0.04 / decay), rel=0.03)
