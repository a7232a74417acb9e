"""Fine-tune worker: bad store files skipped with a reason, the hash split, a short run that lowers the
held-out JTFS distance (measured independently), the engine's hot swap of the export, status + PNG."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.finetune.holdout import hash_fraction, read_user_data
from scrapl_live.finetune.store import content_hash
from tests.finetune.helpers import SR, export_start_model, fill_store, small_config, user_sounds

torch.set_num_threads(1)


def test_bad_files_skipped_with_reason_and_split_by_hash(tmp_path: Path, caplog) -> None:
    rng = np.random.default_rng(0)
    sounds = [(0.3 * rng.standard_normal(4000) * np.exp(-np.arange(4000) / 800)).astype(np.float32)
              for _ in range(12)]
    store = fill_store(tmp_path / "s", sounds)
    good = sorted(store.root.glob("0*.npz"))
    data = good[0].read_bytes()
    good[0].write_bytes(data[: len(data) // 2])  # torn file
    (store.root / "junk.npz").write_bytes(b"not a zip")  # foreign file
    short = store.add(np.full(100, 0.5, np.float32), SR)  # too short to match a hit
    with caplog.at_level(logging.WARNING, logger="scrapl_live.finetune.holdout"):
        d = read_user_data(store.root, SR, 44100, holdout_frac=0.3)
    assert set(d.skipped) == {good[0].name, "junk.npz", short.name}
    assert "corrupt" in d.skipped[good[0].name] and "not a capture sample" in d.skipped["junk.npz"]
    for name in d.skipped:
        assert name in caplog.text
    # split: a sample is held out iff its content hash maps below 0.3 (independent recomputation)
    expected = sorted(content_hash(x, SR) for x in sounds[1:] if hash_fraction(content_hash(x, SR)) < 0.3)
    assert sorted(d.heldout_hashes) == expected and len(d.train) + len(d.heldout) == 11
    assert d.train.shape[1:] == (1, 44100) and d.train_len.tolist() == [4000] * len(d.train)
    # more samples never move an existing one between the halves
    more = [(0.2 * rng.standard_normal(3000)).astype(np.float32) for _ in range(6)]
    fill_store(tmp_path / "s", more)
    d2 = read_user_data(store.root, SR, 44100, holdout_frac=0.3)
    assert set(d.heldout_hashes) <= set(d2.heldout_hashes) and set(d.train_hashes) <= set(d2.train_hashes)


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """8 user sounds, a fresh start model, 6 fine-tune steps (evaluations at 0, 2, 4, 6)."""
    from scrapl_live.finetune.worker import FinetuneWorker

    tmp = tmp_path_factory.mktemp("ft")
    model = export_start_model(tmp / "start.onnx")
    sounds, source = user_sounds(8)
    fill_store(tmp / "store", sounds)
    cfg = small_config(tmp, model, tmp / "store", max_steps=6, batch_size=3, eval_paths=8)
    worker = FinetuneWorker(cfg)
    assert worker.run() == 6
    return {"tmp": tmp, "model": model, "worker": worker, "source": source, "cfg": cfg}


@pytest.mark.slow
def test_finetune_lowers_heldout_jtfs_distance(short_run: dict) -> None:
    """Independent check: ONNX runtime θ̂ of the start and the exported model, resynthesised, JTFS
    distance on 12 other fixed paths (not the worker's eval paths) over the held-out samples."""
    import synths
    from scrapl_live.encoder.runtime import OnnxEncoder
    from scrapl_live.loss import SCRAPLLoss
    from scrapl_live.train.config import JTFS_PRESETS

    worker, out = short_run["worker"], Path(short_run["cfg"].out_dir)
    assert (out / "model.onnx").is_file(), f"no improvement exported: {worker.history}"
    data = read_user_data(short_run["cfg"].store, SR, 44100, holdout_frac=0.25)
    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    loss = SCRAPLLoss(44100, **JTFS_PRESETS["tr808"], use_p_adam=False, use_p_saga=False).eval()
    paths = [int(p) for p in np.linspace(20, loss.n_paths - 20, 12)]
    assert not set(paths) & set(worker.loss.eval_path_indices)
    mask = (torch.arange(44100) < data.heldout_len[:, None]).float()[:, None]

    def distance(path: Path) -> float:
        enc = OnnxEncoder(path)
        theta = torch.from_numpy(np.clip(enc(data.heldout[:, 0, : enc.window].numpy()), 0, 1))
        with torch.no_grad():
            x_hat = synth(theta, torch.arange(len(theta))) * mask
            return float(loss(x_hat, data.heldout, path_idx=paths))

    before, after = distance(short_run["model"]), distance(out / "model.onnx")
    print(f"user sounds: {short_run['source']}; held-out JTFS distance {before:.4f} -> {after:.4f}")
    assert after < before
    hist = [r["heldout_distance"] for r in worker.history]
    assert [r["step"] for r in worker.history] == [0, 2, 4, 6] and min(hist[1:]) < hist[0]


@pytest.mark.slow
def test_engine_hot_swaps_the_export(short_run: dict) -> None:
    from scrapl_live.live.engine import Engine

    out = Path(short_run["cfg"].out_dir)
    engine = Engine(short_run["model"], SR, block_size=256)
    try:
        engine.swap_model(out / "model.onnx", wait=True)
        assert engine.slot.last_error is None
        for _ in range(2):
            engine.process_block(np.zeros(256, np.float32))
        assert engine.slot.current.path == out / "model.onnx" and engine.slot.swaps == 1
        card = engine.slot.current.encoder.card
        exported = [r["step"] for r in short_run["worker"].history if r["exported"]]
        assert card["finetune"]["step"] == max(exported)
    finally:
        engine.close()


@pytest.mark.slow
def test_status_command_and_png(short_run: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from scrapl_live.cli import main

    out = Path(short_run["cfg"].out_dir)
    png = short_run["tmp"] / "curve.png"
    assert main(["finetune", "status", "--out", str(out), "--png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "state stopped" in text and "step 6" in text and str(out / "model.onnx") in text
    assert text.count("  step ") == 4 and "exported" in text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_engine_capture_stores_each_hit_from_its_onset(tmp_path: Path) -> None:
    """``engine.capture = LiveCapture``: every analysed hit lands in the store from its onset for the synth's
    length (1 s), cut at the next onset, with the θ̂ the engine played; an old W-sample store still reads."""
    from scrapl_live.finetune.live_capture import BackgroundCapture, LiveCapture
    from scrapl_live.finetune.store import CaptureStore
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.offline import run_signal
    from tests.live.signals import hit_sequence

    model = export_start_model(tmp_path / "m.onnx")
    audio, _ = hit_sequence(4, SR, seed=3, levels_db=(-20.0, -6.0), gap_s=(0.3, 0.4))
    engine = Engine(model, SR, 256, play_voices=False)
    capture = LiveCapture.for_engine(engine, BackgroundCapture(CaptureStore(tmp_path / "store")))
    engine.capture = capture
    run_signal(engine, audio, tail_s=0.2)
    engine.close()
    capture.close()
    fed = np.zeros(capture._t, np.float32)  # what the engine was fed: the audio, then silence
    fed[: audio.size] = audio
    samples = list(CaptureStore(tmp_path / "store").samples())
    hits = list(engine.recent_hits)
    assert len(hits) >= 2 and capture.background.stored == len(samples) == len(hits) == engine.n_hits
    starts = [hit.t_samples for hit in hits]
    for s, hit, end in zip(samples, hits, [*starts[1:], fed.size], strict=True):
        np.testing.assert_array_equal(s.theta, hit.theta)
        assert s.meta["start_s"] == hit.t_samples / SR and s.meta["length"] == SR == capture.length
        assert s.audio.size == min(SR, end - hit.t_samples) > engine.window
        np.testing.assert_array_equal(s.audio, fed[hit.t_samples : hit.t_samples + s.audio.size])
    # the worker's reader: full-length targets (N = 1 s) with the captured span as the compared length
    data = read_user_data(tmp_path / "store", SR, SR, holdout_frac=0.25)
    spans = sorted([*data.train_len.tolist(), *data.heldout_len.tolist()])
    assert data.train.shape[-1] == SR and spans == sorted(s.audio.size for s in samples)
    old = CaptureStore(tmp_path / "old")  # a store written before: W-sample windows only
    for s in samples:
        old.add(s.audio[: engine.window], SR, s.theta, {"start_s": s.meta["start_s"]})
    data = read_user_data(old.root, SR, SR, holdout_frac=0.25)
    assert set(data.train_len.tolist()) | set(data.heldout_len.tolist()) == {engine.window}


def test_run_command_validates_and_resumes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from scrapl_live.cli import main
    from scrapl_live.finetune.persist import load_last_checkpoint

    model = export_start_model(tmp_path / "m.onnx")
    assert main(["finetune", "run", "--model", str(model), "--store", str(tmp_path / "nope")]) == 1
    assert f"--store {tmp_path / 'nope'}: capture store folder not found" in capsys.readouterr().err
    assert main(["finetune", "run", "--model", str(tmp_path / "x.onnx"), "--store", str(tmp_path)]) == 1
    assert f"--model {tmp_path / 'x.onnx'}: model file not found" in capsys.readouterr().err
    sounds, _ = user_sounds(4)
    fill_store(tmp_path / "s", sounds)
    out = tmp_path / "o"
    args = ["finetune", "run", "--model", str(model), "--store", str(tmp_path / "s"), "--out", str(out),
            "--batch-size", "1", "--eval-paths", "2", "--nice", "0", "--foreground", "--steps"]
    assert main([*args, "1"]) == 0
    assert "stopped at step 1" in capsys.readouterr().out
    assert main([*args, "2"]) == 0  # resumes: one more step
    assert load_last_checkpoint(out / "ckpt")["step"] == 2


def test_stop_and_resume_equals_an_uninterrupted_run(tmp_path: Path) -> None:
    """2 + 2 steps with a stop (checkpoint: bfloat16 path tables, only the visited rows) between them give
    bit-identical weights and SCRAPL state to 4 steps in one go."""
    from scrapl_live.finetune.persist import load_last_checkpoint
    from scrapl_live.finetune.worker import FinetuneWorker

    model = export_start_model(tmp_path / "m.onnx")
    sounds, _ = user_sounds(4)
    fill_store(tmp_path / "s", sounds)

    def run(out: str, steps: int) -> FinetuneWorker:
        cfg = small_config(tmp_path, model, tmp_path / "s", out_dir=str(tmp_path / out), max_steps=steps,
                           batch_size=1, eval_every=100, ckpt_every=100, eval_paths=2)
        worker = FinetuneWorker(cfg)
        worker.run()
        return worker

    full = run("full", 4)
    run("parts", 2)
    ckpt = load_last_checkpoint(tmp_path / "parts" / "ckpt")
    rows = ckpt["loss_state"]["pathwise.table_rows_0"]
    assert 1 <= rows.numel() <= 2 and ckpt["loss_state"]["pathwise.adam_m_0"].shape[0] == rows.numel()
    assert ckpt["loss_state"]["pathwise.adam_m_0"].dtype == torch.bfloat16
    resumed = run("parts", 4)
    assert resumed.step == full.step == 4
    for key, w in full.encoder.state_dict().items():
        assert torch.equal(resumed.encoder.state_dict()[key], w), key
    for (name, a), (_, b) in zip(full.loss.pathwise.named_buffers(), resumed.loss.pathwise.named_buffers(),
                                 strict=True):
        assert torch.equal(a, b), name


WINDOWS = (128, 256, 512, 1024, 2048, 4096)  # the shipped tr808 encoder's


def export_multi_window_model(path: Path) -> Path:
    """A small freshly initialised multi-window tr808 encoder (``WINDOWS``) exported to ``path``."""
    from dataclasses import replace

    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config

    cfg = encoder_config("tr808", "live", windows=WINDOWS)
    cfg = replace(cfg, cnn=replace(cfg.cnn, channels=8, latent=16, dropout=0.0))
    torch.manual_seed(0)
    export_onnx(Encoder(cfg), path)
    return path


def test_scored_windows_are_the_hit_modes_first_and_longest() -> None:
    import inspect

    from scrapl_live.finetune.holdout import FIRST_WINDOW, scored_windows
    from scrapl_live.live.hits import HitMode

    assert inspect.signature(HitMode).parameters["first_window"].default == FIRST_WINDOW
    assert scored_windows(WINDOWS) == (256, 4096)
    assert scored_windows((512, 1024, 8192)) == (512, 8192) and scored_windows((2048,)) == (2048,)


def test_multi_window_steps_draw_their_input_length_and_resume_exactly(tmp_path: Path) -> None:
    """Training steps feed the first draw_window(windows, seed, s) samples (recorded at the encoder's
    input), evaluation scores W₀ = 256 and the longest; 2 + 2 steps with a stop equal 4 in one go."""
    from scrapl_live.finetune.worker import FinetuneWorker
    from scrapl_live.train.data import draw_window

    model = export_multi_window_model(tmp_path / "m.onnx")
    sounds, _ = user_sounds(4)
    fill_store(tmp_path / "s", sounds)

    def run(out: str, steps: int) -> tuple[FinetuneWorker, list[tuple[bool, int]]]:
        cfg = small_config(tmp_path, model, tmp_path / "s", out_dir=str(tmp_path / out), max_steps=steps,
                           batch_size=1, eval_every=100, ckpt_every=100, eval_paths=2, seed=3)
        worker = FinetuneWorker(cfg)
        assert worker.encoder.config.windows == WINDOWS
        seen: list[tuple[bool, int]] = []
        worker.encoder.register_forward_pre_hook(lambda m, args: seen.append((m.training, args[0].shape[-1])))
        worker.run()
        return worker, seen

    full, seen = run("full", 4)
    expected = [draw_window(WINDOWS, 3, s) for s in range(4)]
    assert [n for training, n in seen if training] == expected
    assert len(set(expected)) == 4 and all(128 <= n <= 4096 for n in expected)
    assert [n for training, n in seen if not training] == [256, 4096] * len(full.data.heldout)
    assert set(full.history[0]["heldout_by_window"]) == {"256", "4096"}
    run("parts", 2)
    resumed, seen = run("parts", 4)
    assert [n for training, n in seen if training] == expected[2:]
    assert resumed.step == 4
    for key, w in full.encoder.state_dict().items():
        assert torch.equal(resumed.encoder.state_dict()[key], w), key


def test_multi_window_export_keeps_windows_and_never_regresses_the_first_window(tmp_path: Path) -> None:
    """The gate: a lower mean with a worse W₀ is not exported; a lower mean with a better W₀ is (even with
    the longest window a little worse), and the engine's loader sees the card's windows (any length) in
    the hot-swapped model, matching the torch encoder."""
    from scrapl_live.encoder.card import load_card
    from scrapl_live.finetune.worker import FinetuneWorker
    from scrapl_live.live.classify import classifier_for
    from scrapl_live.live.model import load_model
    from scrapl_live.resources import shipped_model

    model = export_multi_window_model(tmp_path / "m.onnx")
    head = shipped_model("drumclass")
    for src in (head, head.with_suffix(".json")):
        shutil.copy(src, tmp_path / src.name)
    start_card = json.loads(model.with_suffix(".json").read_text())
    model.with_suffix(".json").write_text(json.dumps({**start_card, "classifier": head.name}))
    sounds, _ = user_sounds(4)
    fill_store(tmp_path / "s", sounds)
    worker = FinetuneWorker(small_config(tmp_path, model, tmp_path / "s", max_steps=1, batch_size=1,
                                         eval_every=100, ckpt_every=100, eval_paths=2))
    worker.run()  # the start model's evaluation is the best record
    best = worker.best["heldout_by_window"]
    out = Path(worker.cfg.out_dir) / "model.onnx"
    worker.heldout_distances = lambda state=None: {"256": best["256"] * 1.01, "4096": best["4096"] * 0.5}
    assert not worker.evaluate()["exported"] and not out.exists()
    better = {"256": best["256"] * 0.9, "4096": best["4096"] * 1.001}
    worker.heldout_distances = lambda state=None: better
    assert worker.evaluate()["exported"] and out.is_file()
    card, start = load_card(out), load_card(model)
    assert card["windows"] == start["windows"] == list(WINDOWS) and card["any_window"] is True
    assert card["finetune"]["heldout_by_window"] == better
    loaded = load_model(out)
    assert loaded.windows == WINDOWS
    assert Path(card["classifier"]) == (tmp_path / head.name).resolve()  # found from the export's folder
    assert classifier_for(loaded) is not None
    x = torch.from_numpy(sounds[0][:4096])
    with torch.no_grad():
        worker.encoder.eval()
        for n in (128, 256, 1000, 4096):
            np.testing.assert_allclose(loaded.infer(x[:n].numpy()), worker.encoder(x[None, :n])[0].numpy(),
                                       atol=1e-4)
