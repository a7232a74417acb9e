"""What the installed package provides: the shipped models (one lookup for every command, test and
benchmark) and which extra brings an optional dependency.

The encoders in the repository's ``models/`` folder (``NAME.onnx`` + card ``NAME.json`` + torch weights
``NAME.pt``) are installed with the package as ``scrapl_live/shipped_models/`` (``setup.py`` maps that
package onto ``models/``). :func:`models_dir` finds them in this order:

1. ``$SCRAPL_LIVE_MODELS``, when set (a folder of your own models);
2. the installed package data (a wheel or ``pip install .``);
3. the source checkout's ``models/`` (an editable install, or running from the repository).
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

ENV = "SCRAPL_LIVE_MODELS"
_PACKAGE_DATA = Path(__file__).resolve().parent / "shipped_models"
_CHECKOUT = Path(__file__).resolve().parents[1]
_DISTRIBUTION = {"rtmidi": "python-rtmidi", "tomli_w": "tomli-w"}  # import name -> package, where they differ


def models_dir() -> Path:
    """The folder the shipped models are read from (it may not exist; see :func:`shipped_model`)."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV]).expanduser()
    if _PACKAGE_DATA.is_dir():
        return _PACKAGE_DATA
    return _CHECKOUT / "models"


def shipped_model(name: str, suffix: str = ".onnx") -> Path:
    """Path of the shipped model ``name`` (``"tr808"``, ``"granular"``, ...) with ``suffix``.

    Raises FileNotFoundError, saying what to do, when it is not there.
    """
    path = models_dir() / f"{name}{suffix}"
    if not path.is_file():
        raise FileNotFoundError(
            f"model {path} not found: pass a model file (any encoder exported "
            f"by `scrapl-live export`) or set {ENV} to a folder holding {name}{suffix}"
        )
    return path


def install_hint(module: str) -> str:
    """One line saying how to install the missing optional ``module``, from the package's own extras."""
    module = module.split(".")[0]
    dist = _DISTRIBUTION.get(module, module).replace("_", "-").lower()
    try:
        requirements = metadata.requires("scrapl-live") or []
    except metadata.PackageNotFoundError:  # running from a checkout that was never installed
        requirements = []
    extras = sorted({m.group(1) for r in requirements
                     if re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].lower() == dist
                     and (m := re.search(r'extra == "(\w+)"', r))} - {"all", "test"})
    if not extras:
        return f"the Python package {dist} is not installed: pip install {dist}"
    options = " or ".join(f'pip install "scrapl-live[{e}]"' for e in extras)
    return f"{module} is not installed; this command needs it: {options}"
