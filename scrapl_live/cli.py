"""Command-line entry point: ``scrapl-live <command> ...``.

Each feature area owns its sub-commands in a module exposing ``register(subparsers)``;
the modules are imported here so that ``--help`` lists every command.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from scrapl_live.allocator import tune_allocator

# Modules that contribute sub-commands (each defines ``register(subparsers) -> None``).
COMMAND_MODULES: list[str] = [
    "scrapl_live.encoder.cli",
    "scrapl_live.train.cli",
    "scrapl_live.live.cli",
    "synths.cli",
    "scrapl_live.finetune.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrapl-live", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    tune_allocator()  # training and analysis steps reuse heap pages instead of re-faulting them
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, RuntimeError) as exc:
        print(f"scrapl-live {args.command}: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
