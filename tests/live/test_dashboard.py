"""The live view: what one frame shows of a real engine (file mode), and ``live`` with/without it on JACK."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.live.dashboard import BARS, Dashboard, bars, input_peak_db, meter, render
from tests.live.signals import hit_sequence


def test_bars_and_meter_follow_their_values() -> None:
    assert bars(np.array([0.0, 1.0, 0.5, 2.0, -1.0])) == BARS[0] + BARS[-1] + BARS[4] + BARS[-1] + BARS[0]
    assert meter(0.0, width=10) == "█" * 10 and meter(-30.0, width=10) == "█" * 5 + "·" * 5
    assert meter(float("-inf"), width=4) == "····"


class _Counters:
    xruns, underruns = 3, 1


def _frame(view: Dashboard) -> str:
    from rich.console import Console

    console = Console(file=io.StringIO(), width=140, color_system=None)
    console.print(render(view.snapshot()))
    return console.file.getvalue()


def test_frame_shows_hits_level_latency_model_and_finetune(models: dict[str, Path], tmp_path: Path) -> None:
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.offline import run_signal

    torch.set_num_threads(1)
    x, onsets = hit_sequence(3, 44100, seed=2, levels_db=(-12.0, -6.0), gap_s=(0.3, 0.4))
    engine = Engine(models["tr808"], 44100, 256)
    try:
        run_signal(engine, x, tail_s=0.0)
    finally:
        engine.close()
    status = {"state": "training", "step": 42, "samples": {"train": 6, "heldout": 2, "skipped": {}},
              "history": [{"step": 0, "heldout_distance": 2.0}, {"step": 25, "heldout_distance": 1.0}],
              "exports": 1}
    (tmp_path / "status.json").write_text(json.dumps(status))
    from scrapl_live.live.events import HitEvent

    last = engine.recent_hits[-1]  # a classified hit (contract: label/confidence filled by the classifier)
    engine.recent_hits.append(HitEvent(last.hit_id + 1, last.t_samples + 4410, 0.5, last.theta, last.params,
                                       0, True, "snare", 0.93))
    view = Dashboard(engine, _Counters(), tmp_path)
    text = _frame(view)
    hits = list(engine.recent_hits)
    assert hits and f"last hits ({engine.n_hits} in all)" in text
    for h in hits[-8:]:  # each shown hit: its onset, velocity and θ̂ bars, computed independently here
        assert f"{h.t_samples / 44100:.2f}" in text and f"{h.velocity:.2f}" in text
        assert bars(h.theta) in text
    for part, (p50, p99) in engine.latency.summary().items():
        assert f"{part} {p50:.1f}/{p99:.1f}" in text
    assert "snare 0.93" in text
    assert f"tr808 encoder {models['tr808'].name}" in text and "swaps 0" in text
    assert "xruns 3  underruns 1  errors 0" in text
    # the fine-tune line: state, step, samples and the held-out curve (2.0 → 1.0: a high then a low bar)
    assert "fine-tune: training, step 42, 6 + 2 samples, exports 1" in text
    assert f"held-out {BARS[-1]}{BARS[0]} 1" in text
    # the level meter: the peak of the last 50 ms the engine heard (the signal padded to whole blocks)
    padded = np.zeros(-(-x.size // 256) * 256, np.float32)
    padded[: x.size] = x
    expected = 20 * np.log10(np.abs(padded[-int(0.05 * 44100) :]).max())
    assert abs(input_peak_db(engine) - expected) < 1e-4 and f"{expected:6.1f} dBFS" in text


def test_level_meter_reads_the_latest_input(models: dict[str, Path]) -> None:
    from scrapl_live.live.engine import Engine

    engine = Engine(models["tr808"], 44100, 256)
    try:
        for _ in range(20):
            engine.process_block(np.full(256, 0.1, np.float32))
    finally:
        engine.close()
    assert abs(input_peak_db(engine) - 20 * np.log10(0.1)) < 1e-3


def test_refresh_rate_is_capped(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="refresh_hz"):
        Dashboard(object(), refresh_hz=30)


def test_view_is_drawn_by_its_own_process_and_stops(models: dict[str, Path], tmp_path: Path) -> None:
    import os

    from scrapl_live.live.engine import Engine

    engine = Engine(models["tr808"], 44100, 256)
    out = tmp_path / "view.txt"
    view = Dashboard(engine, refresh_hz=10, console_args={"path": str(out), "force_terminal": True,
                                                           "width": 120})
    view.start()
    try:
        time.sleep(1.5)
        assert view._process.pid != os.getpid() and view._process.is_alive()
    finally:
        view.stop()
        engine.close()
    assert 8 <= view.frames <= 17  # ~10 Hz for 1.5 s (+ the last frame), sent without the caller's help
    assert not view._process.is_alive() and "last hits (0 in all)" in out.read_text()
    view.stop()  # idempotent


@pytest.mark.jack
@pytest.mark.usefixtures("jack_running")
def test_live_command_shows_the_view_unless_quiet(models: dict[str, Path],
                                                  capfd: pytest.CaptureFixture[str]) -> None:
    from scrapl_live.cli import main

    argv = ["live", "--model", str(models["tr808"]), "--duration", "1.5", "--no-voices"]
    assert main(argv) == 0
    out = capfd.readouterr().out  # the view process writes to the same terminal (file descriptor 1)
    assert "last hits (0 in all)" in out and "latency p50/p99 ms" in out  # the view's (last) frame
    assert "live session" in out and "xruns" in out  # the summary after it
    assert main([*argv, "--quiet"]) == 0
    out = capfd.readouterr().out
    assert "last hits" not in out and "live session" in out
