"""The README's and docs' code runs: every fenced python block is executed, every shell command names a
file that exists or a ``scrapl-live`` command whose ``--help`` lists each option the docs pass it, and
every relative link points at a file."""

from __future__ import annotations

import importlib.util
import re
import shlex
from pathlib import Path

import pytest

from scrapl_live.cli import main

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
TEXT = {doc.relative_to(REPO).as_posix(): doc.read_text() for doc in DOCS}
PYTHON = [(name, code) for name, text in TEXT.items()
          for code in re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)]
SHELL = [(name, line) for name, text in TEXT.items()
         for block in re.findall(r"^ *```(?:bash|sh)\n(.*?)^ *```", text, re.S | re.M)
         for full in block.replace("\\\n", " ").splitlines()
         for line in full.split(" && ")  # each command of a chain
         if line.split()[:1] in (["scrapl-live"], ["bash"], ["python"], ["python3"])]
LINKS = [(name, target) for name, text in TEXT.items()
         for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text)]


def test_the_readme_has_snippets() -> None:
    readme = [code for name, code in PYTHON if name == "README.md"]
    assert len(readme) >= 2 and sum(name == "README.md" for name, _ in SHELL) >= 10


@pytest.mark.parametrize(("doc", "code"), PYTHON, ids=[f"{n}:{i}" for i, (n, _) in enumerate(PYTHON)])
def test_python_snippet_runs(doc: str, code: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    torch.set_num_threads(1)
    monkeypatch.chdir(tmp_path)  # snippets may write files
    exec(compile(code, doc, "exec"), {"__name__": "snippet"})


@pytest.mark.parametrize(("doc", "target"), LINKS, ids=[f"{n}:{t}" for n, t in LINKS])
def test_relative_link_points_at_a_file(doc: str, target: str) -> None:
    assert ((REPO / doc).parent / target).exists(), f"{doc} links to {target}, which does not exist"


def _words(line: str) -> list[str]:
    return shlex.split(line.split(" #", 1)[0])


def _help(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0, command
    return capsys.readouterr().out


@pytest.mark.parametrize(("doc", "line"), SHELL, ids=[f"{n}:{i}" for i, (n, _) in enumerate(SHELL)])
def test_shell_command_exists(doc: str, line: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = _words(line)
    if words[0] in ("bash", "python", "python3"):
        if words[1] == "-m":
            assert importlib.util.find_spec(words[2]), f"{doc} runs module {words[2]}, which is not installed"
        else:
            assert (REPO / words[1]).is_file(), f"{doc} runs {words[1]}, which is not in the repository"
        return
    command = [words[1]]
    if words[1] == "finetune":  # the one command with actions
        command.append(words[2])
    text = _help(command, capsys)
    for option in (w.split("=", 1)[0] for w in words if w.startswith("-")):
        assert re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text), (
            f"`scrapl-live {' '.join(command)}` has no option {option} ({doc}: {line})"
        )


TOML = [(name, block) for name, text in TEXT.items()
        for block in re.findall(r"^```toml\n(.*?)^```", text, re.S | re.M)]


@pytest.mark.parametrize(("doc", "text"), TOML, ids=[f"{n}:{i}" for i, (n, _) in enumerate(TOML)])
def test_mapping_example_is_valid(doc: str, text: str, tmp_path: Path) -> None:
    import synths
    from scrapl_live.control.mapping import load_mapping

    path = tmp_path / "map.toml"
    path.write_text(text)
    mapping = load_mapping(path)
    names = {p.name for synth in ("tr808", "granular") for p in synths.get(synth).params}
    unknown = [p.name for p in mapping.params if p.name not in names]
    assert not unknown, f"{doc}: the mapping example names parameters no shipped synth has: {unknown}"
