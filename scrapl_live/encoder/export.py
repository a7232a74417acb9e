"""ONNX export of an :class:`Encoder` (front-end + CNN in one graph) with a JSON model card, and the reverse.

``export_onnx`` writes ``NAME.onnx`` (input ``audio`` (batch, W) float32 → output ``theta`` (batch, U);
a multi-window encoder's input is (batch, samples), any length in ``[windows[0], windows[-1]]``) and
``NAME.json`` beside it, then validates the file: ``onnx.checker``, an onnxruntime session compared
with torch at every listed window (max |Δθ̂| ≤ 1e-4) and the reversal ``onnx_to_torch`` reproducing
every weight exactly.
The export keeps the graph unoptimised (``optimize=False``) so every weight stays a named initializer with
its torch shape — that is what makes ONNX → torch possible; onnxruntime optimises the graph at load.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scrapl_live.encoder.card import (
    CARD_FORMAT,
    INPUT_NAME,
    OUTPUT_NAME,
    card_path,
    check_onnx_file,
    file_sha256,
    load_card,
    ort_session,
)
from scrapl_live.encoder.encoder import Encoder
from scrapl_live.encoder.presets import EncoderConfig

log = logging.getLogger(__name__)

OPSET = 18
PARITY_TOL = 1e-4
_FRONTEND_BUFFERS = ("frontend.freqs", "frontend.lengths", "frontend.starts", "frontend.centres")


def _param_specs(config: EncoderConfig, card: dict[str, Any]) -> list[dict[str, Any]]:
    """Param specs for the card: the caller's ``card['params']`` or the synth registry's, names checked."""
    if "params" in card:
        specs = [dict(p) for p in card["params"]]
    else:
        import synths

        specs = [asdict(p) for p in synths.get(config.synth).params]
    names = tuple(str(p.get("name")) for p in specs)
    if names != config.param_names:
        raise ValueError(
            f"card 'params' names {names} differ from the encoder's param_names {config.param_names}"
        )
    return specs


def build_card(encoder: Encoder, card: dict[str, Any] | None = None) -> dict[str, Any]:
    """Merge the caller's card (training data, metrics, command, git commit, ...) with encoder facts.

    Keys derived from the encoder win; a caller value that contradicts them is a ValueError.
    """
    card = dict(card or {})
    cfg = encoder.config
    derived = {
        "format": CARD_FORMAT,
        "synth": cfg.synth,
        "sample_rate": cfg.sample_rate,
        "window": cfg.window,
        "window_ms": round(1000.0 * cfg.window / cfg.sample_rate, 3),
        "windows": list(cfg.windows),
        "any_window": cfg.multi_window,
        "size": cfg.size,
        "n_weights": encoder.n_weights,
        "param_names": list(cfg.param_names),
        "params": _param_specs(cfg, card),
        "encoder_config": cfg.to_dict(),
    }
    for key in ("synth", "sample_rate", "window", "size"):
        if key in card and card[key] != derived[key]:
            raise ValueError(f"card[{key!r}] = {card[key]!r} contradicts the encoder ({derived[key]!r})")
    full = {**card, **derived}
    try:
        json.dumps(full)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"card must be JSON-serialisable (numbers, strings, lists, dicts): {exc}") from exc
    return full


def serve_windows(encoder: Encoder, windows: tuple[int, ...]) -> Encoder:
    """The same multi-window network (shared weights) serving only ``windows``: ascending, at least two,
    inside the range it was trained for; e.g. to leave out a long window that misses a latency budget.
    The front-end and pools stay as trained, so every length it still takes gives the same θ̂."""
    import dataclasses

    cfg = encoder.config
    windows = tuple(int(w) for w in windows)
    if not cfg.multi_window:
        raise ValueError(f"a single-window encoder (W={cfg.window}) cannot serve other windows")
    if len(windows) < 2 or list(windows) != sorted(set(windows)) or not (
        cfg.windows[0] <= windows[0] and windows[-1] <= cfg.windows[-1]
    ):
        raise ValueError(
            f"windows {list(windows)} must be >= 2 ascending lengths within the trained range "
            f"{cfg.windows[0]}..{cfg.windows[-1]}"
        )
    served = Encoder(dataclasses.replace(cfg, window=windows[-1], windows=windows))
    served.load_state_dict(encoder.state_dict())
    return served.train(encoder.training)


def export_onnx(
    encoder: Encoder, path: str | Path, card: dict[str, Any] | None = None, inputs: torch.Tensor | None = None
) -> dict[str, Any]:
    """Write ``path`` (.onnx) and its card (.json); validate; return the card.

    inputs: optional extra audio (B, W) for the onnxruntime-vs-torch parity check (random audio of every
    listed window is always checked too).  Raises RuntimeError when the exported graph disagrees with torch.
    """
    import onnx

    path = Path(path)
    if path.suffix != ".onnx":
        raise ValueError(f"path must end in .onnx, got {path}")
    full_card = build_card(encoder, card)
    model = copy.deepcopy(encoder).cpu().eval()
    cfg = model.config
    window = cfg.window
    gen = torch.Generator().manual_seed(0)
    examples = [torch.randn(2, w, generator=gen) for w in cfg.windows]
    example = examples[-1]
    dims = {0: torch.export.Dim("batch")}
    if cfg.multi_window:
        # no upper bound in the graph (a tight one trips the exporter's shape solver on short windows):
        # the card's windows bound the length, checked by the runtime
        dims[1] = torch.export.Dim("samples", min=cfg.windows[0])
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        model,
        (example,),
        str(path),
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        opset_version=OPSET,
        dynamo=True,
        optimize=False,
        external_data=False,
        verbose=False,
        dynamic_shapes={"audio": dims},
    )
    _strip_node_metadata(path)
    onnx.checker.check_model(str(path), full_check=True)
    checks = list(examples)
    if inputs is not None:
        checks.append(inputs.detach().to(torch.float32).cpu().reshape(-1, window))
    parity = max(_max_abs_diff(model, path, x) for x in checks)
    if not parity <= PARITY_TOL:
        raise RuntimeError(f"onnxruntime output differs from torch by {parity:.3g} > {PARITY_TOL} for {path}")
    full_card["onnx"] = {
        "file": path.name,
        "opset": OPSET,
        "input": INPUT_NAME,
        "output": OUTPUT_NAME,
        "input_shape": ["batch", "samples" if cfg.multi_window else window],
        "bytes": path.stat().st_size,
        "sha256": file_sha256(path),
        "parity_max_abs": parity,
    }
    card_path(path).write_text(json.dumps(full_card, indent=2) + "\n")
    restored = onnx_to_torch(path)
    for key, value in model.state_dict().items():
        if not torch.equal(restored.state_dict()[key], value):
            raise RuntimeError(f"ONNX → torch reversal does not reproduce weight {key!r} of {path}")
    log.info(
        "exported %s (%d weights, %.1f kB, parity %.2g)",
        path,
        model.n_weights,
        path.stat().st_size / 1e3,
        parity,
    )
    return full_card


def _strip_node_metadata(path: Path) -> None:
    """Drop the exporter's per-node debug metadata (stack traces, FX names): ~40 % of a small file."""
    import onnx

    model = onnx.load(str(path))
    for node in model.graph.node:
        del node.metadata_props[:]
    onnx.save(model, str(path))


def _max_abs_diff(model: Encoder, path: Path, audio: torch.Tensor) -> float:
    """max |θ̂_onnxruntime - θ̂_torch| on audio (B, W)."""
    session = ort_session(path)
    with torch.no_grad():
        expected = model(audio).numpy()
    got = session.run([OUTPUT_NAME], {INPUT_NAME: audio.numpy()})[0]
    return float(np.abs(got - expected).max())


def onnx_to_torch(path: str | Path) -> Encoder:
    """Rebuild the torch :class:`Encoder` (eval mode) from an exported .onnx and its card.

    The architecture comes from ``card['encoder_config']``; every trainable weight is read back from
    the ONNX initializer of the same name; the CQT front-end's per-bin constants in the file
    must equal the rebuilt ones.
    """
    import onnx
    from onnx import numpy_helper

    card = load_card(path)
    path = check_onnx_file(path, card)
    encoder = Encoder(EncoderConfig.from_dict(card["encoder_config"]))
    try:
        graph = onnx.load(str(path)).graph
    except Exception as exc:  # protobuf raises DecodeError and friends
        raise ValueError(f"{path} is not a readable ONNX model: {exc}") from exc
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state = {}
    for key, value in encoder.state_dict().items():
        if key not in inits or tuple(inits[key].shape) != tuple(value.shape):
            raise ValueError(
                f"{path} has no initializer {key!r} of shape {tuple(value.shape)}: not this encoder"
            )
        state[key] = torch.from_numpy(inits[key].copy()).to(value.dtype)
    buffers = dict(encoder.named_buffers())
    for key in _FRONTEND_BUFFERS:
        if key not in inits or not np.array_equal(inits[key], buffers[key].numpy()):
            raise ValueError(f"{path}: CQT front-end {key!r} differs from card['encoder_config']")
    encoder.load_state_dict(state)
    return encoder.eval()
