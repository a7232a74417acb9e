"""Command-line entry point: ``scrapl-live <command> ...``.

Each feature area owns its sub-commands in a module exposing ``register(subparsers)``; the modules are
imported here so that ``--help`` lists every command, and every parser shows its defaults.
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
    "scrapl_live.train.classifier_cli",
    "scrapl_live.live.cli",
    "synths.cli",
    "scrapl_live.finetune.cli",
]


DESCRIPTION = """\
scrapl-live listens to drums or a texture (a mic, a line input or a file), predicts the parameters of
a TR-808 or granular synth for each hit with a small encoder, and plays our synth, sends MIDI notes
and CCs, or drives a plugin. It can also fine-tune the encoder on your own sounds.

Start with:
  scrapl-live demo                       resynthesise the bundled example (WAV, MIDI, PNG)
  scrapl-live resynth drums.wav -o out.wav --mid out.mid
  scrapl-live devices                    list audio devices and MIDI ports
  scrapl-live live --midi-port virtual   play live, with a terminal view (Ctrl-C stops)

Run `scrapl-live COMMAND --help` for a command's options and their defaults."""


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after an option's help, except where there is no meaningful default."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if "%(default)" in text or "default" in text.lower() or action.default in (None, False, [],
                                                                                    argparse.SUPPRESS):
            return text
        return super()._get_help_string(action)


class _RawDefaultsFormatter(_DefaultsFormatter, argparse.RawDescriptionHelpFormatter):
    """The same, for parsers whose description or epilog is laid out by hand."""


def _show_defaults(parser: argparse.ArgumentParser) -> None:
    """Give ``parser`` and every sub-parser below it the defaults-showing formatter."""
    raw = issubclass(parser.formatter_class, argparse.RawDescriptionHelpFormatter)
    parser.formatter_class = _RawDefaultsFormatter if raw else _DefaultsFormatter
    for action in parser._actions:
        if action.help is None and action.option_strings and action.default not in (None, False):
            action.help = "(default: %(default)s)"
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _show_defaults(sub)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scrapl-live", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    _show_defaults(parser)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scrapl-live")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "(not installed)"


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
    except ModuleNotFoundError as exc:  # an optional dependency (an extra) of this command is missing
        from scrapl_live.resources import install_hint

        print(f"scrapl-live {args.command}: error: {install_hint(exc.name or str(exc))}", file=sys.stderr)
        return 1
    except (ValueError, OSError, RuntimeError) as exc:  # a user mistake or a refused file: one line
        print(f"scrapl-live {args.command}: error: {_one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # outputs are staged or atomic: an interrupted command wrote nothing partial
        print(f"scrapl-live {args.command}: interrupted", file=sys.stderr)
        return 130


def _one_line(exc: BaseException) -> str:
    """The exception's message on one line (an OSError without one: its strerror and file name)."""
    text = str(exc)
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in text:
        text = f"{exc.filename}: {exc.strerror or text}"
    return " ".join(text.split())


if __name__ == "__main__":
    sys.exit(main())
