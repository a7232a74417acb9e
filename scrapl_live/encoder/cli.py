"""Encoder sub-commands: ``export`` (checkpoint → ONNX + card) and ``encoder-info`` (inspect, reverse)."""

from __future__ import annotations

import argparse
from pathlib import Path

# Card keys written by the export itself (shown above); every other key comes from the trainer.
ENCODER_KEYS = frozenset(
    (
        "format",
        "synth",
        "sample_rate",
        "window",
        "window_ms",
        "windows",
        "any_window",
        "size",
        "n_weights",
        "param_names",
        "params",
        "encoder_config",
        "onnx",
        "full_hit",
    )
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``export`` and ``encoder-info`` to the ``scrapl-live`` parser."""
    p = subparsers.add_parser(
        "export",
        help="export a trained encoder checkpoint to ONNX (+ JSON model card)",
        description="Write MODEL.onnx (CQT front-end + CNN, audio window in → θ̂ in [0,1]^U out) and "
        "MODEL.json beside it. CHECKPOINT is a torch file with keys encoder_config, encoder_state, card.",
    )
    p.add_argument("checkpoint", type=Path, help="trainer checkpoint (.pt)")
    p.add_argument("-o", "--output", type=Path, required=True, help="output path, e.g. models/tr808.onnx")
    p.add_argument(
        "--windows",
        default=None,
        metavar="W1,W2,...",
        help="a multi-window encoder serves only these input lengths (within its trained range; the card "
        "lists them), e.g. to leave out a long window that misses the latency budget",
    )
    p.add_argument(
        "--full-hit",
        type=Path,
        default=None,
        metavar="ONNX",
        help="an exported encoder of the same synth and parameters on a longer window (e.g. trained with "
        "--window 44100) that file mode (resynth, demo) analyses each hit with; it is checked, not copied: "
        "the card records its path relative to the output",
    )
    p.set_defaults(func=_export)

    p = subparsers.add_parser(
        "encoder-info",
        help="show an exported encoder's model card and check that it loads",
        description="Validate MODEL.onnx against its card with onnxruntime and print the card; "
        "--to-checkpoint rebuilds the torch encoder from the ONNX weights (for fine-tuning).",
    )
    p.add_argument("model", type=Path, help="exported encoder (.onnx with its .json card beside it)")
    p.add_argument(
        "--to-checkpoint",
        type=Path,
        default=None,
        metavar="PT",
        help="also write a torch checkpoint rebuilt from the ONNX file",
    )
    p.set_defaults(func=_info)


def _export(args: argparse.Namespace) -> int:
    import logging

    from scrapl_live.encoder.encoder import encoder_from_checkpoint
    from scrapl_live.encoder.export import export_onnx

    # Exporter chatter (missing optional torchvision ops, ONNX IR pass notes) is irrelevant here.
    for name in ("torch.onnx._internal.exporter._registration", "onnx_ir"):
        logging.getLogger(name).setLevel(logging.ERROR)
    from scrapl_live.cli_checks import check_output

    check_output(args.output, (".onnx",), "-o/--output", [args.checkpoint])
    if args.checkpoint.is_dir():
        raise ValueError(f"{args.checkpoint} is a folder: pass the checkpoint file inside it (e.g. best.pt)")
    encoder, card = encoder_from_checkpoint(args.checkpoint)
    if args.windows is not None:
        from scrapl_live.encoder.export import serve_windows
        from scrapl_live.train.data import parse_windows

        encoder = serve_windows(encoder, parse_windows(args.windows))
    card.pop("full_hit", None)  # only --full-hit names one
    if args.full_hit is not None:
        card["full_hit"] = _full_hit_name(args.full_hit, encoder, args.output)
    card.setdefault("checkpoint", str(args.checkpoint))
    card = export_onnx(encoder, args.output, card)
    info = card["onnx"]
    print(
        f"wrote {args.output} ({info['bytes'] / 1e3:.1f} kB, {card['n_weights']} weights, "
        f"onnxruntime parity {info['parity_max_abs']:.2g}) and {args.output.with_suffix('.json')}"
    )
    return 0


def _full_hit_name(path: Path, encoder, output: Path) -> str:  # noqa: ANN001 - Encoder
    """``path`` relative to ``output``'s folder, after checking that it is an exported encoder that can be
    ``encoder``'s full-hit model (same synth and parameters, a longer window)."""
    import os

    from scrapl_live.cli_checks import check_model_file
    from scrapl_live.encoder.card import check_full_hit
    from scrapl_live.encoder.runtime import OnnxEncoder

    cfg = encoder.config
    live = {"synth": cfg.synth, "param_names": list(cfg.param_names), "window": cfg.window,
            "sample_rate": cfg.sample_rate}
    check_model_file(path, "--full-hit")
    try:
        check_full_hit(live, OnnxEncoder(path).card, path)
    except (FileNotFoundError, ValueError) as exc:
        raise ValueError(f"--full-hit {path} cannot be used for {output}: {exc}") from exc
    return Path(os.path.relpath(path.resolve(), output.resolve().parent)).as_posix()


def _info(args: argparse.Namespace) -> int:
    import torch

    from scrapl_live.atomic import write_atomic
    from scrapl_live.cli_checks import check_model_file, check_output
    from scrapl_live.encoder.encoder import encoder_checkpoint
    from scrapl_live.encoder.export import onnx_to_torch
    from scrapl_live.encoder.runtime import OnnxEncoder

    if args.to_checkpoint is not None:
        check_output(args.to_checkpoint, (".pt",), "--to-checkpoint", [args.model])
    model = OnnxEncoder(check_model_file(args.model, "MODEL"))
    card = model.card
    print(
        f"{args.model}: {card['synth']} encoder, size {card.get('size')}, {card.get('n_weights')} weights, "
        f"{card['onnx']['bytes'] / 1e3:.1f} kB"
    )
    if len(model.windows) > 1:
        print(f"  input: {model.length_rule} at {model.sample_rate} Hz (windows {list(model.windows)})")
    else:
        print(f"  input: W = {model.window} samples at {model.sample_rate} Hz ({card.get('window_ms')} ms)")
    print(f"  output θ̂ ({len(model.param_names)}): {', '.join(model.param_names)}")
    if "full_hit" in card:
        print(f"  file mode analyses hits with: {card['full_hit']} (full-hit encoder, relative to the card)")
    for key, value in card.items():  # the trainer's facts: data, metrics, command, commit, ...
        if key not in ENCODER_KEYS:
            print(f"  {key}: {value}")
    if args.to_checkpoint is not None:
        encoder = onnx_to_torch(args.model)
        ckpt = encoder_checkpoint(encoder, card)
        write_atomic(args.to_checkpoint, lambda f: torch.save(ckpt, f))
        print(f"wrote torch checkpoint {args.to_checkpoint}")
    return 0
