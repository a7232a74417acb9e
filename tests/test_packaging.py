"""Packaging: the loss works on core dependencies alone, every import is declared, the wheel carries the
shipped models, and a non-editable install runs ``scrapl-live demo`` from an empty folder."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# import name -> distribution name, where they differ
DIST = {"rtmidi": "python-rtmidi", "tomli_w": "tomli-w", "onnxruntime": "onnxruntime"}
STDLIB = set(sys.stdlib_module_names)


def _names(requirements: list[str]) -> set[str]:
    """Distribution names of requirement strings (no versions, markers or self-references)."""
    names = {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower() for r in requirements}
    return names - {"scrapl-live"}


def _imports(path: Path, module_level: bool = False) -> set[str]:
    """Top-level names of the absolute third-party imports in a source file (all, or module level only)."""
    tree = ast.parse(path.read_text())
    names = set()
    for node in tree.body if module_level else ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names - STDLIB - {"scrapl_live", "synths", "__future__"}


def test_every_import_is_a_declared_dependency() -> None:
    core = _names(PROJECT["dependencies"])
    extras = {k: _names(v) for k, v in PROJECT["optional-dependencies"].items()}
    declared = core | extras["live"] | extras["train"]  # what users install, not the test-only peers
    missing = {}
    for path in sorted([*(REPO / "scrapl_live").rglob("*.py"), *(REPO / "synths").rglob("*.py")]):
        for name in _imports(path):
            dist = DIST.get(name, name).replace("_", "-").lower()
            if dist not in declared:
                missing.setdefault(dist, []).append(str(path.relative_to(REPO)))
    assert not missing, f"imported but not in pyproject.toml's core, [live] or [train]: {missing}"
    # the library areas import only core dependencies at module level
    for area in ("loss", "scattering"):
        for path in (REPO / "scrapl_live" / area).rglob("*.py"):
            extra_only = {DIST.get(n, n) for n in _imports(path, module_level=True)} - core
            assert not extra_only, f"{path.relative_to(REPO)} imports {extra_only} at module level"


BLOCKER = """
import importlib.abc, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is not a core dependency")
sys.meta_path.insert(0, Block())
"""


def test_loss_jtfs_and_synths_work_with_core_dependencies_only() -> None:
    core = {n.replace("-", "_") for n in _names(PROJECT["dependencies"])}
    extras = {DIST.get(n, n) for v in PROJECT["optional-dependencies"].values() for n in _names(v)}
    blocked = {{v: k for k, v in DIST.items()}.get(n, n).replace("-", "_") for n in extras} - core
    assert {"onnxruntime", "pedalboard", "rtmidi", "sounddevice", "mido"} <= blocked
    code = BLOCKER.format(blocked=sorted(blocked)) + """
import torch
torch.set_num_threads(1)
import scrapl_live
from scrapl_live import JTFS
from scrapl_live.loss import SCRAPLLoss
import synths
x = synths.get("granular", n_samples=4096)(torch.full((2, 2), 0.5), torch.arange(2))
loss = SCRAPLLoss(shape=4096, J=8, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=512, F=4)
print(float(loss(x, x.roll(100, -1))), float(loss(x, x)))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    differ, same = map(float, run.stdout.split())
    assert differ > 0 and same == 0


def test_a_command_without_its_extra_says_what_to_install(tmp_path: Path) -> None:
    code = BLOCKER.format(blocked=["onnxruntime"]).replace(
        'raise ImportError(f"{name} is not a core dependency")',
        'raise ModuleNotFoundError(f"No module named {name!r}", name=name)') + f"""
from scrapl_live.cli import main
raise SystemExit(main(["demo", "--out-dir", {str(tmp_path / "demo")!r}]))
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         cwd=tmp_path)
    assert run.returncode == 1, run.stderr[-3000:]
    assert run.stderr.strip().splitlines()[-1] == (
        'scrapl-live demo: error: onnxruntime is not installed; this command needs it: '
        'pip install "scrapl-live[live]" or pip install "scrapl-live[train]"'), run.stderr[-3000:]


def _wheel(tmp: Path) -> Path:
    """Build the project's wheel into ``tmp`` (no network: the current setuptools builds it)."""
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp),
           str(REPO)]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=tmp)
    assert run.returncode == 0, run.stderr[-3000:]
    (wheel,) = tmp.glob("scrapl_live-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_carries_every_shipped_model_and_no_tests(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [p for p in (REPO / "models").iterdir() if p.suffix in {".onnx", ".json", ".pt"}]
    assert shipped, "models/ holds the shipped encoders"
    missing = [p.name for p in shipped if f"scrapl_live/shipped_models/{p.name}" not in names]
    assert not missing, f"shipped models missing from the wheel: {missing}"
    assert "synths/tr808.py" in names and "scrapl_live/loss/scrapl.py" in names
    assert not [n for n in names if n.startswith(("tests/", "benchmarks/", "experiments/"))]


@pytest.mark.slow
def test_a_non_editable_install_runs_the_demo_from_an_empty_folder(wheel: Path, tmp_path: Path) -> None:
    venv, empty = tmp_path / "venv", tmp_path / "empty"
    empty.mkdir()
    # the venv sees the installed dependencies (no download, no CUDA torch) but its own scrapl-live
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    python = venv / "bin" / "python"
    run = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-index",
                          f"{wheel}[live]"], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "SCRAPL_LIVE_MODELS"}}
    env["OMP_NUM_THREADS"] = "1"
    where = subprocess.run([str(python), "-c", "import scrapl_live; print(scrapl_live.__file__)"],
                           capture_output=True, text=True, cwd=empty, env=env, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    demo = subprocess.run([str(venv / "bin" / "scrapl-live"), "demo"], capture_output=True, text=True,
                          cwd=empty, env=env, timeout=600)
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    out = empty / "scrapl-live-demo"
    for name in ("input.wav", "resynth.wav", "hits.mid", "texture.mid", "compare.png"):
        assert (out / name).stat().st_size > 0, name
