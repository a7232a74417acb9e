"""The demo: a reproducible example (808 pattern + granular texture) through the live engine in file mode.

:func:`make_example` renders the example from the synths themselves (fixed presets, levels and seeds,
so every run makes the same few seconds); :func:`run_demo` resynthesises the drums with the tr808
encoder and the texture with the granular encoder, exactly as live mode would, and writes the audio,
a MIDI file per part (notes + CC automation of every predicted parameter) and a comparison PNG.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scrapl_live.audio import resample, save_audio
from scrapl_live.live.engine import LIVE_SYNTH_OPTIONS, Engine
from scrapl_live.live.model import load_model
from scrapl_live.live.offline import FILE_SAMPLE_RATE, run_signal
from scrapl_live.resources import shipped_model

log = logging.getLogger(__name__)

# (time s, preset, level dBFS): two bars of a simple 808 pattern at 120 bpm with quiet ghost notes
PATTERN: list[tuple[float, str, float]] = [
    (0.10, "kick", 0), (0.35, "hat", -18), (0.60, "snare", -6), (0.85, "hat", -24),
    (1.10, "kick", -3), (1.35, "hat", -20), (1.48, "kick", -14), (1.60, "snare", -4), (1.85, "tom", -10),
    (2.10, "kick", 0), (2.35, "hat", -30), (2.60, "snare", -8), (2.85, "hat", -36),
    (3.10, "kick", -2), (3.35, "tom", -16), (3.60, "snare", -3),
]
PRESETS: dict[str, dict[str, float]] = {
    "kick": dict(osc1_freq=50, osc1_mod=1.5, osc2_freq=80, osc2_mod=0.5, freq_decay=40, osc1_decay=500,
                 osc2_decay=150, noise_decay=20, noise_freq=2000, noise_q=0.7, osc1_gain=0, osc2_gain=-15,
                 noise_gain=-40, tanh_gain=6),
    "snare": dict(osc1_freq=180, osc1_mod=0.3, osc2_freq=330, osc2_mod=0.2, freq_decay=30, osc1_decay=120,
                  osc2_decay=80, noise_decay=180, noise_freq=1500, noise_q=0.8, osc1_gain=-6, osc2_gain=-10,
                  noise_gain=-2, tanh_gain=3),
    "hat": dict(osc1_freq=1800, osc1_mod=0.0, osc2_freq=1950, osc2_mod=0.0, freq_decay=10, osc1_decay=15,
                osc2_decay=15, noise_decay=45, noise_freq=8000, noise_q=1.5, osc1_gain=-40, osc2_gain=-40,
                noise_gain=0, tanh_gain=0),
    "tom": dict(osc1_freq=110, osc1_mod=0.8, osc2_freq=160, osc2_mod=0.4, freq_decay=80, osc1_decay=350,
                osc2_decay=200, noise_decay=30, noise_freq=3000, noise_q=0.7, osc1_gain=0, osc2_gain=-8,
                noise_gain=-30, tanh_gain=4),
}
DRUMS_S = 4.0
TEXTURE = dict(density=0.7, slope=0.3)  # normalised θ of the granular example
TEXTURE_LEVEL_DB = -12.0


@dataclass
class Example:
    """The example signal (N,) at ``sample_rate`` and what is in it."""

    audio: np.ndarray = field(repr=False)
    sample_rate: int
    hit_times: list[int]  # true onsets of the drum part (samples)
    hit_names: list[str]
    drums_end: int  # drums in [0, drums_end), texture (if any) in [drums_end, N)


def make_example(sample_rate: int = FILE_SAMPLE_RATE, texture: bool = True) -> Example:
    """Render the example: ``PATTERN`` from the tr808 synth, then 4 s of granular texture (if available)."""
    import torch

    import synths

    drums = synths.get("tr808", **LIVE_SYNTH_OPTIONS["tr808"])
    n_drums = int(DRUMS_S * sample_rate)
    parts = [np.zeros(n_drums, dtype=np.float32)]
    times = []
    for i, (t, name, db) in enumerate(PATTERN):
        hit = resample(drums.render(seed=i, **PRESETS[name]).numpy(), drums.sample_rate, sample_rate)
        start = int(t * sample_rate)
        n = min(hit.size, n_drums - start)
        parts[0][start : start + n] += hit[:n] / max(float(np.abs(hit).max()), 1e-6) * 10 ** (db / 20)
        times.append(start)
    if texture:
        try:
            gran = synths.get("granular")
        except (ValueError, ImportError) as exc:
            log.warning("granular synth unavailable, example without texture: %s", exc)
        else:
            with torch.no_grad():
                theta = torch.tensor([[TEXTURE["density"], TEXTURE["slope"]]], dtype=torch.float32)
                tex = gran(theta, torch.tensor([7]))[0, 0].numpy()
            tex = resample(tex, gran.sample_rate, sample_rate)
            parts.append(tex / max(float(np.abs(tex).max()), 1e-6) * 10 ** (TEXTURE_LEVEL_DB / 20))
    audio = np.concatenate(parts).astype(np.float32)
    peak = float(np.abs(audio).max())
    if peak > 0.95:  # overlapping loud hits: keep the example unclipped
        audio *= 0.95 / peak
    return Example(audio, sample_rate, times, [p[1] for p in PATTERN], n_drums)


@dataclass
class DemoResult:
    """Files written and the engines (hits, latency) of each part."""

    files: dict[str, Path]
    example: Example
    engines: dict[str, Engine]
    output: np.ndarray = field(repr=False)


def _part(
    audio: np.ndarray, sr: int, model: Path, midi_path: Path, threads: int
) -> tuple[np.ndarray, Engine]:
    """Run one part through an engine with a MIDI-file sink; returns (output, engine)."""
    from scrapl_live.control.mapping import default_mapping
    from scrapl_live.control.midifile import MidiFileSink

    loaded = load_model(model, threads)
    names = list(loaded.param_names)
    sink = MidiFileSink(midi_path, default_mapping(names), names, sr)
    engine = Engine(loaded, sr, sinks=[sink], threads=threads, lookahead=True)
    try:
        out = run_signal(engine, audio, tail_s=0.5)
    finally:
        engine.close()
    return out, engine


def run_demo(out_dir: str | Path, tr808_model: str | Path | None = None,
             granular_model: str | Path | None = None, threads: int = 1) -> DemoResult:
    """Make the example, resynthesise it, write input/resynth WAVs, MIDI files and compare.png."""
    from scrapl_live.live.plot import hit_label, plot_comparison

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tr808_model = Path(tr808_model) if tr808_model else shipped_model("tr808")
    if granular_model is None:
        try:
            granular_model = shipped_model("granular")
        except FileNotFoundError as exc:
            log.warning("texture part skipped: %s", exc)
    ex = make_example(texture=granular_model is not None)
    sr = ex.sample_rate
    files = {"input": save_audio(out / "input.wav", ex.audio, sr)}
    engines: dict[str, Engine] = {}
    drums_out, engines["drums"] = _part(ex.audio[: ex.drums_end], sr, tr808_model, out / "hits.mid", threads)
    files["midi"] = out / "hits.mid"
    result = np.zeros(max(ex.audio.size, drums_out.size), dtype=np.float32)
    result[: drums_out.size] += drums_out
    if granular_model is not None and ex.audio.size > ex.drums_end:
        tex_out, engines["texture"] = _part(ex.audio[ex.drums_end :], sr, Path(granular_model),
                                            out / "texture.mid", threads)
        files["texture_midi"] = out / "texture.mid"
        grow = max(0, ex.drums_end + tex_out.size - result.size)
        result = np.concatenate([result, np.zeros(grow, np.float32)])
        result[ex.drums_end : ex.drums_end + tex_out.size] += tex_out
    peak = float(np.abs(result).max())
    if peak > 0.99:
        result *= 0.99 / peak
    files["resynth"] = save_audio(out / "resynth.wav", result, sr)
    hits = list(engines["drums"].recent_hits)  # the example has far fewer hits than the history holds
    files["plot"] = plot_comparison(
        out / "compare.png", ex.audio, result, sr, [h.t_samples for h in hits],
        np.array([h.theta for h in hits]), list(engines["drums"].slot.current.param_names),
        title="scrapl-live demo: 808 pattern + granular texture → resynthesis",
        labels=[hit_label(h.label, h.confidence) for h in hits],
    )
    return DemoResult(files, ex, engines, result)
