"""File mode with a full-hit encoder named by the card: the model called, the next-onset cut, voice
placement, live mode ignoring it, the error cases and ``export --full-hit``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.encoder.runtime import OnnxEncoder
from scrapl_live.live.engine import Engine
from scrapl_live.live.events import HitEvent
from scrapl_live.live.offline import run_signal
from tests.live.signals import hit_sequence

SR = 44100
FULL = 8192  # the full-hit test encoder's window (the live test encoder's is 2048)


class Hits:
    """Hit sink keeping the stage-0 events."""

    def __init__(self) -> None:
        self.hits: list[HitEvent] = []

    def on_hit(self, event: HitEvent) -> None:
        self.hits.append(event)

    def on_refine(self, event: HitEvent) -> None:
        raise AssertionError("file mode analyses one window per hit")


def _pair(folder: Path, live: Path, full_hit: str | None) -> Path:
    """A copy of the ``live`` encoder in ``folder`` whose card names ``full_hit`` (relative to it)."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx = folder / "live.onnx"
    shutil.copyfile(live, onnx)
    card = json.loads(live.with_suffix(".json").read_text())
    if full_hit is not None:
        card["full_hit"] = full_hit
    onnx.with_suffix(".json").write_text(json.dumps(card))
    return onnx


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained tr808 encoder on FULL samples, exported through the project's export path."""
    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config

    torch.set_num_threads(1)
    torch.manual_seed(3)
    path = tmp_path_factory.mktemp("full") / "full.onnx"
    export_onnx(Encoder(encoder_config("tr808", "live", window=FULL)), path)
    return path


@pytest.fixture(scope="module")
def paired(models: dict[str, Path], full: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The live test encoder with a card naming ``full`` by its relative path."""
    folder = tmp_path_factory.mktemp("pair") / "models"
    return _pair(folder, models["tr808"], f"../../{full.parent.name}/{full.name}")


def _two_hits(gap: int) -> tuple[np.ndarray, np.ndarray]:
    """Two 808 hits ``gap`` samples apart (the second inside the first's full-hit window)."""
    x, _ = hit_sequence(1, SR, seed=7, levels_db=(-10.0, -10.0), gap_s=(0.05, 0.05), noise_db=-150.0)
    y = np.zeros(x.size + gap + FULL, np.float32)
    y[: x.size] += x
    y[gap : gap + x.size] += x
    return y, np.array([0, gap])


def test_file_mode_calls_the_full_hit_encoder_on_the_window_cut_at_the_next_onset(
    paired: Path, full: Path, models: dict[str, Path]
) -> None:
    x, _ = _two_hits(4000)
    rec = Hits()
    engine = Engine(paired, SR, 256, sinks=[rec], lookahead=True)
    run_signal(engine, x)
    assert engine.analyser.path.resolve() == full.resolve()
    first, second = rec.hits
    t1, t2 = first.t_samples, second.t_samples
    assert 0 < t2 - t1 < FULL
    enc, live = OnnxEncoder(full), OnnxEncoder(models["tr808"])
    cut = x[t1 : t1 + FULL].copy()
    cut[t2 - t1 :] = 0.0
    np.testing.assert_allclose(first.theta, enc(cut), atol=1e-5)
    np.testing.assert_allclose(second.theta, enc(x[t2 : t2 + FULL]), atol=1e-5)
    # the cut and the model both matter: neither the uncut window nor the live encoder gives this θ̂
    assert np.abs(first.theta - enc(x[t1 : t1 + FULL])).max() > 1e-4
    assert np.abs(first.theta - live(x[t1 : t1 + 2048])).max() > 1e-4
    peak_db = 20 * np.log10(np.abs(cut).max())
    assert first.velocity == pytest.approx((peak_db + 60) / 60, abs=1e-3)


def test_the_latency_covers_the_full_hit_window_and_voices_start_on_their_onsets(
    paired: Path, models: dict[str, Path]
) -> None:
    x, _ = hit_sequence(6, SR, seed=5, levels_db=(-30.0, -6.0), gap_s=(0.06, 0.3), noise_db=-150.0)
    rec = Hits()
    engine = Engine(paired, SR, 256, sinks=[rec], lookahead=True, max_voices=16)
    plain = Engine(models["tr808"], SR, 256, lookahead=True)
    assert engine.delay == plain.delay - 2048 + FULL
    out = run_signal(engine, x, tail_s=1.0)
    assert len(rec.hits) >= 4
    voices = []
    for e in rec.hits:  # each voice rendered on its own, level-matched over its first 2048 samples
        with torch.no_grad():
            v = engine.synth(torch.from_numpy(e.theta[None]), torch.tensor([engine.seed + e.hit_id]))[0, 0]
        v = v.numpy()
        nxt = min([h.t_samples for h in rec.hits if h.t_samples > e.t_samples], default=e.t_samples + FULL)
        win = x[e.t_samples : min(e.t_samples + 2048, nxt)]
        voices.append((e.t_samples, v * min(np.abs(win).max() / np.abs(v[:2048]).max(), 10.0)))
    for t, _ in voices:  # 32 samples either side of each onset: silent before (but for earlier voices)
        a = max(t - 32, 0)
        y = np.zeros(64 + t - a - 32, np.float32)
        for s, v in voices:
            lo, hi = max(a, s), min(t + 32, s + v.size)
            if lo < hi:
                y[lo - a : hi - a] += v[lo - s : hi - s]
        np.testing.assert_allclose(out[a : t + 32], y, atol=1e-4)
    assert engine.strategy.mixer.late_starts == 0


def test_without_a_full_hit_name_file_mode_is_unchanged(models: dict[str, Path]) -> None:
    engine = Engine(models["tr808"], SR, 256, lookahead=True)
    assert engine.strategy.full_hit is None and engine.analyser is engine.slot.current


def test_live_mode_never_loads_the_full_hit_encoder(models: dict[str, Path], tmp_path: Path) -> None:
    """Live mode constructs and runs even when the named file does not exist."""
    model = _pair(tmp_path, models["tr808"], "missing.onnx")
    rec = Hits()
    engine = Engine(model, SR, 256, sinks=[rec])
    assert engine.strategy.full_hit is None and engine.analyser is engine.slot.current
    x, _ = hit_sequence(2, SR, seed=1, levels_db=(-10.0, -10.0), noise_db=-150.0)
    run_signal(engine, x)
    w = engine.window
    for e in rec.hits:
        np.testing.assert_allclose(e.theta, OnnxEncoder(models["tr808"])(x[e.t_samples : e.t_samples + w]),
                                   atol=1e-5)


@pytest.mark.parametrize("case", ["missing", "broken", "other synth", "not longer", "not a name"])
def test_an_unusable_full_hit_encoder_is_a_one_line_error_naming_both(
    case: str, models: dict[str, Path], full: Path, tmp_path: Path
) -> None:
    if case == "broken":
        bad = tmp_path / "bad.onnx"
        shutil.copyfile(full, bad)
        shutil.copyfile(full.with_suffix(".json"), bad.with_suffix(".json"))
        bad.write_bytes(bad.read_bytes()[:1000])  # truncated: its card's SHA-256 no longer matches
    elif case in ("other synth", "not longer"):
        src = models["granular" if case == "other synth" else "tr808_b"]
        bad = tmp_path / src.name
        for suffix in (".onnx", ".json"):
            shutil.copyfile(src.with_suffix(suffix), bad.with_suffix(suffix))
    name = {"missing": "missing.onnx", "not a name": 3}.get(case)
    model = _pair(tmp_path / "m", models["tr808"], name if name is not None else f"../{bad.name}")
    with pytest.raises(ValueError) as err:
        Engine(model, SR, 256, lookahead=True)
    msg = str(err.value)
    assert "\n" not in msg and str(model) in msg and "full-hit" in msg
    reason = {"missing": "not found", "broken": "SHA-256", "other synth": "granular",
              "not longer": "no longer", "not a name": "must be a file name"}[case]
    assert reason in msg
    if name is None:
        assert bad.name in msg


def test_export_records_a_checked_full_hit_name(full: Path, models: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from scrapl_live.cli import main
    from scrapl_live.encoder.encoder import Encoder, encoder_checkpoint
    from scrapl_live.encoder.presets import encoder_config

    torch.manual_seed(0)
    ckpt = tmp_path / "live.pt"
    torch.save(encoder_checkpoint(Encoder(encoder_config("tr808", "live")), {"command": "test"}), ckpt)
    out = tmp_path / "shipped" / "live.onnx"
    assert main(["export", str(ckpt), "-o", str(out), "--full-hit", str(full)]) == 0
    card = json.loads(out.with_suffix(".json").read_text())
    assert (out.parent / card["full_hit"]).resolve() == full.resolve()
    engine = Engine(out, SR, 256, lookahead=True)
    assert engine.analyser.path.resolve() == full.resolve()
    capsys.readouterr()
    assert main(["export", str(ckpt), "-o", str(tmp_path / "x.onnx"), "--full-hit",
                 str(models["granular"])]) != 0
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "--full-hit" in err and "granular" in err
    assert not (tmp_path / "x.onnx").exists()
