"""The command-line entry point."""

import argparse
import subprocess
import sys
from pathlib import Path

import pytest


def test_help_lists_usage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scrapl_live.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: scrapl-live" in out.stdout


def test_no_command_exits_2() -> None:
    from scrapl_live.cli import main

    assert main([]) == 2


def _parsers(parser: argparse.ArgumentParser, name: str = "scrapl-live"):
    """(command name, parser) for the top-level parser and every sub-parser below it."""
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from scrapl_live.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"scrapl-live {version('scrapl-live')}"


def test_top_level_help_is_written_for_users() -> None:
    out = subprocess.run([sys.executable, "-m", "scrapl_live.cli", "--help"], capture_output=True,
                         text=True, check=True).stdout
    assert "Start with:" in out and "scrapl-live demo" in out and "scrapl-live live" in out
    assert "register(subparsers)" not in out and "``" not in out  # no developer docstring


def test_every_help_shows_the_defaults() -> None:
    from scrapl_live.cli import build_parser

    missing = []
    for name, parser in _parsers(build_parser()):
        formatter = parser._get_formatter()
        for action in parser._actions:
            if not action.option_strings or action.help == argparse.SUPPRESS:
                continue
            no_default = action.default in (None, False, [], argparse.SUPPRESS)
            if no_default and "default" not in (action.help or ""):
                continue  # a flag, or an option without a default value
            shown = formatter._expand_help(action) if action.help else ""
            if "default" not in shown:
                missing.append(f"{name} {action.option_strings[-1]}")
        parser.format_help()  # every help renders
    assert not missing, missing


def test_one_name_per_concept() -> None:
    from scrapl_live.cli import build_parser

    visible: dict[str, dict[str, str]] = {}
    for name, parser in _parsers(build_parser()):
        visible[name] = {s: a.help or "" for a in parser._actions if a.help != argparse.SUPPRESS
                         for s in a.option_strings}
    for name, opts in visible.items():
        assert "--out" not in opts and "--buffer" not in opts, name  # --out-dir / --block everywhere
        if "--output" in opts:  # -o/--output is an output file, never a device or a folder
            text = opts["--output"]
            assert "-o" in opts and "device" not in text and "folder" not in text, name
    assert {"--input-device", "--output-device", "--block", "--quiet"} <= set(visible["scrapl-live live"])
    assert "--block" in visible["scrapl-live resynth"]
    for cmd in ("demo", "finetune run", "finetune status", "train", "eval"):
        assert "--out-dir" in visible[f"scrapl-live {cmd}"], cmd


def test_old_spellings_still_parse() -> None:
    from scrapl_live.cli import build_parser

    parser = build_parser()
    assert parser.parse_args(["live", "--buffer", "128"]).block == 128
    assert parser.parse_args(["demo", "--out", "d"]).out_dir == Path("d")
    assert parser.parse_args(["finetune", "status", "--out", "r"]).out_dir == Path("r")


def test_train_without_out_dir_gets_a_folder_named_from_its_config() -> None:
    from scrapl_live.cli import build_parser
    from scrapl_live.train.cli import config_from_args

    parser = build_parser()
    a = config_from_args(parser.parse_args(["train", "--synth", "tr808", "--loss", "scrapl"]))
    b = config_from_args(parser.parse_args(["train", "--synth", "tr808", "--loss", "scrapl", "--lr", "0.01"]))
    a2 = config_from_args(parser.parse_args(["train", "--synth", "tr808", "--loss", "scrapl", "--max-steps",
                                             "99999"]))
    assert a.out_dir.startswith("runs/tr808-scrapl-seed") and a.out_dir != b.out_dir
    assert a2.out_dir == a.out_dir  # extending a run (more steps) resumes in its folder
    given = config_from_args(parser.parse_args(["train", "--synth", "tr808", "--loss", "scrapl", "--out-dir",
                                                "x"]))
    assert given.out_dir == "x"


@pytest.mark.slow
def test_train_config_mismatch_names_the_checkpoint(tmp_path: Path) -> None:
    from tests.train.test_trainer import TINY

    run = tmp_path / "run"
    base = [sys.executable, "-m", "scrapl_live.cli", "train", *TINY, "--out-dir", str(run)]
    subprocess.run([*base, "--stop-at", "1"], check=True, capture_output=True, timeout=900)
    proc = subprocess.run([*base, "--lr", "5e-4"], capture_output=True, text=True, timeout=900)
    err = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{run / 'last.pt'}: checkpoint was trained with a different config" in err and "--restart" in err
