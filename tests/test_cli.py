"""The command-line entry point."""

import subprocess
import sys


def test_help_lists_usage() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "scrapl_live.cli", "--help"], capture_output=True, text=True, check=True
    )
    assert "usage: scrapl-live" in out.stdout


def test_no_command_exits_2() -> None:
    from scrapl_live.cli import main

    assert main([]) == 2
