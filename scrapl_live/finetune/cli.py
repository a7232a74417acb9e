"""Fine-tune sub-commands: ``scrapl-live finetune add FILES... --store DIR [--model PATH]``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` command group to the ``scrapl-live`` parser."""
    ft = subparsers.add_parser("finetune", help="capture store for fine-tuning on your own sounds")
    sub = ft.add_subparsers(dest="finetune_command", metavar="ACTION")
    ft.set_defaults(func=lambda _args: _usage(ft))

    p = sub.add_parser(
        "add", help="add every hit (or window) of audio files to a capture store",
        description="Cuts each file into hits (onset detector) or back-to-back windows, predicts θ̂ with "
        "--model when given, and stores each window with its metadata. Silence and exact duplicates "
        "are skipped; writes are atomic.",
    )
    p.add_argument("files", nargs="+", type=Path, help="audio files (WAV/FLAC/MP3/OGG)")
    p.add_argument("--store", type=Path, required=True, help="capture store folder (created if missing)")
    p.add_argument("--model", type=Path, default=None, help="ONNX encoder for θ̂ (sets rate and window)")
    p.add_argument("--mode", choices=("hits", "windows"), default="hits", help="what to cut (default hits)")
    p.add_argument("--sample-rate", type=int, default=44100, help="rate without --model (Hz)")
    p.add_argument("--window-s", type=float, default=0.5, help="window length without --model (s)")
    p.add_argument("--max-mb", type=float, default=1024.0, help="store size cap in MB (0: no cap)")
    p.add_argument("--policy", choices=("drop-oldest", "refuse"), default="drop-oldest",
                   help="what to do when the cap is reached")
    p.set_defaults(func=_add)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add(args: argparse.Namespace) -> int:
    from scrapl_live.finetune.capture import capture_files
    from scrapl_live.finetune.store import CaptureStore

    if args.max_mb < 0:
        raise ValueError(f"--max-mb must be >= 0, got {args.max_mb}")
    if args.window_s <= 0:
        raise ValueError(f"--window-s must be > 0, got {args.window_s}")
    store = CaptureStore(args.store, max_bytes=int(args.max_mb * 1e6) or None, policy=args.policy)
    encoder = None
    if args.model is not None:
        from scrapl_live.encoder.runtime import OnnxEncoder

        encoder = OnnxEncoder(args.model)
    report = capture_files(store, args.files, encoder, args.mode, args.sample_rate,
                           int(round(args.window_s * args.sample_rate)), progress=True)
    stats = store.stats()
    print(f"{report.windows} {args.mode} found, {len(report.stored)} stored, {report.skipped} skipped "
          f"(silence, duplicate or cap)")
    print(f"store {args.store}: {stats.count} samples, {stats.bytes / 1e6:.1f} MB")
    for path in report.files_without_hits:
        print(f"warning: no {args.mode} found in {path}")
    return 0
