"""Fine-tune worker: bad store files skipped with a reason, the hash split, a short run that lowers the
held-out JTFS distance (measured independently), the engine's hot swap of the export, status + PNG."""

from __future__ import annotations

import logging
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
    from scrapl_live.finetune.capture import BackgroundCapture, LiveCapture
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
