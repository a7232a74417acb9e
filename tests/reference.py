"""Run code against the reference package ``scrapl-loss`` (test/benchmark-only peer).

scrapl-loss appends its vendored kymatio fork to ``sys.path``; with the real kymatio installed the
fork loses and the import fails.  So the reference runs in a child process whose ``sys.path`` starts
with the vendored folders.  Tensors travel through ``torch.save`` files.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import torch

_PRELUDE = """
import os, sys
_root = {root!r}
sys.path[:0] = [os.path.join(_root, "kymatio"), os.path.join(_root, "pytorch_hessian_eigenthings")]
import torch
torch.set_num_threads({threads})
from scrapl import SCRAPLLoss
inputs = torch.load({inp!r}, weights_only=False)
outputs = {{}}
"""

_EPILOGUE = """
torch.save(outputs, {out!r})
"""


def reference_root() -> Path | None:
    """Folder of the installed scrapl-loss package, or None when it is not installed."""
    spec = importlib.util.find_spec("scrapl")
    if spec is None or spec.origin is None:
        return None
    root = Path(spec.origin).parent
    return root if (root / "scrapl_loss.py").exists() else None


def run_reference(
    code: str, inputs: dict[str, Any] | None = None, threads: int = 2, timeout: float = 900
) -> dict:
    """Execute ``code`` in a child process with ``SCRAPLLoss`` (reference), ``torch`` and ``inputs`` in scope.

    The code stores results in the dict ``outputs``, which is returned.
    """
    root = reference_root()
    if root is None:
        raise RuntimeError("scrapl-loss is not installed (pip install 'scrapl-live[test]')")
    with tempfile.TemporaryDirectory() as tmp:
        inp, out, script = (os.path.join(tmp, n) for n in ("in.pt", "out.pt", "run.py"))
        torch.save(inputs or {}, inp)
        body = _PRELUDE.format(root=str(root), threads=threads, inp=inp) + textwrap.dedent(code)
        Path(script).write_text(body + _EPILOGUE.format(out=out))
        proc = subprocess.run([sys.executable, script], capture_output=True, text=True, timeout=timeout)
        if proc.returncode != 0:
            raise RuntimeError(f"reference run failed:\n{proc.stderr[-4000:]}")
        return torch.load(out, weights_only=False)
