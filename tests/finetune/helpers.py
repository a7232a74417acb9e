"""Shared fixtures of the fine-tune worker tests: a start model, a store of "user" sounds, a config."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from scrapl_live.finetune.config import FinetuneConfig
from scrapl_live.finetune.store import CaptureStore

REPO = Path(__file__).resolve().parents[2]
HYDROGEN_TRAIN = REPO / "data" / "hydrogen" / "train"
SR = 44100
CAPTURE = SR  # 1 s per stored hit: the tr808 synth's length, as ``finetune add`` and live capture store


def export_start_model(path: Path, seed: int = 0) -> Path:
    """A freshly initialised small tr808 encoder (8 channels: P-Adam/P-SAGA tables of a few MB instead
    of the live size's 644 MB) exported to ``path`` (.onnx + card)."""
    from dataclasses import replace

    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config

    cfg = encoder_config("tr808", "live")
    cfg = replace(cfg, cnn=replace(cfg.cnn, channels=8, latent=16, dropout=0.0))
    torch.manual_seed(seed)
    export_onnx(Encoder(cfg), path)
    return path


def require_hydrogen() -> None:
    """Make sure ``data/hydrogen`` holds the Hydrogen kits (``scripts/install.sh`` extracts them; else they
    are fetched now with ``apt-get download``); skip, printing why, when they cannot be obtained."""
    if (HYDROGEN_TRAIN.parent / "manifest.json").is_file():
        return
    from scrapl_live.train.hydrogen import extract_hydrogen

    try:
        extract_hydrogen(HYDROGEN_TRAIN.parent)
    except (RuntimeError, OSError) as exc:
        reason = f"Hydrogen drum kits cannot be obtained (apt-get download hydrogen-drumkits): {exc}"
        print(reason)
        pytest.skip(reason)


def user_sounds(n: int, hydrogen: bool = False) -> tuple[list[np.ndarray], str]:
    """``n`` one-shots (CAPTURE,) float32 at SR: with ``hydrogen``, kicks of the Hydrogen training kits
    (never the TR808EmulationKit test kit) when ``scrapl-live data hydrogen data/hydrogen`` was run;
    otherwise audible (RMS > -40 dBFS) tr808 renders from a fixed "user" region of θ (every normalised
    parameter in [0.6, 0.9], away from the ≈ 0.5 of an untrained encoder)."""
    kicks = sorted(p for p in HYDROGEN_TRAIN.rglob("*") if p.suffix.lower() in (".wav", ".flac")
                   and "kick" in p.name.lower() and "TR808" not in str(p)) if hydrogen else []
    if len(kicks) >= n:
        from scrapl_live.audio import load_audio

        out = []
        for p in kicks[:: max(1, len(kicks) // n)][:n]:
            x, _ = load_audio(p, SR)
            w = np.zeros(CAPTURE, np.float32)
            w[: min(CAPTURE, len(x))] = x[:CAPTURE]
            out.append(w / max(1e-3, float(np.abs(w).max())) * 0.5)
        return out, "hydrogen"
    import synths

    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    gen = torch.Generator().manual_seed(7)
    theta = 0.6 + 0.3 * torch.rand(4 * n, synth.n_params, generator=gen)
    with torch.no_grad():
        x = synth(theta, torch.arange(4 * n))[:, 0, :CAPTURE]
    audible = [row.numpy().astype(np.float32) for row in x if row.square().mean().sqrt() > 0.01]
    assert len(audible) >= n, "too few audible renders in the user region"
    return audible[:n], "tr808-region"


def fill_store(root: Path, sounds: list[np.ndarray]) -> CaptureStore:
    """A capture store at ``root`` holding ``sounds``."""
    store = CaptureStore(root)
    for i, x in enumerate(sounds):
        assert store.add(x, SR, meta={"i": i}) is not None
    return store


def small_config(tmp: Path, model: Path, store: Path, **kw: object) -> FinetuneConfig:
    """A CPU-cheap run: batch 2, evaluation + checkpoint every 2 steps, 4 eval paths."""
    base = dict(model=str(model), store=str(store), out_dir=str(tmp / "out"), batch_size=2, lr=3e-3,
                eval_every=2, ckpt_every=2, eval_paths=4, min_samples=4, nice=0)
    base.update(kw)
    return FinetuneConfig(**base)
