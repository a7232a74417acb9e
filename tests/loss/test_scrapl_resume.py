"""Exact resume: 20 SGD steps with SCRAPL + P-Adam + P-SAGA, checkpoint, 20 more steps in a FRESH
process == 40 uninterrupted steps (max abs weight difference <= 1e-6)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent(
    """
    import sys
    import torch
    from scrapl_live.loss import SCRAPLLoss

    mode, ckpt, out = sys.argv[1], sys.argv[2], sys.argv[3]
    torch.set_num_threads(1)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.Tanh(), torch.nn.Linear(32, 1024))
    loss = SCRAPLLoss(1024, 4, 2, 1, 2, 1, sample_all_paths_first=True, sampling_seed=11)
    loss.attach_params(net.parameters())
    opt = torch.optim.SGD(net.parameters(), lr=1e-4, weight_decay=0.01)
    g = torch.Generator().manual_seed(1)
    data = [(torch.randn(4, 8, generator=g), torch.randn(4, 1, 1024, generator=g)) for _ in range(40)]
    start, stop = {"full": (0, 40), "first": (0, 20), "second": (20, 40)}[mode]
    if mode == "second":
        state = torch.load(ckpt, weights_only=True)
        net.load_state_dict(state["net"])
        opt.load_state_dict(state["opt"])
        loss.load_state_dict(state["loss"])
    for step in range(start, stop):
        z, target = data[step]
        opt.zero_grad()
        loss(net(z).unsqueeze(1), target).backward()
        opt.step()
    if mode == "first":
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "loss": loss.state_dict()}, ckpt)
    torch.save({"net": net.state_dict(), "counts": loss.state_dict()["path_counts"]}, out)
    """
)


def _run(script: Path, mode: str, ckpt: Path, out: Path) -> dict:
    proc = subprocess.run(
        [sys.executable, str(script), mode, str(ckpt), str(out)], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return torch.load(out, weights_only=True)


def test_resume_in_fresh_process_equals_uninterrupted(tmp_path: Path) -> None:
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    ckpt = tmp_path / "ckpt.pt"
    full = _run(script, "full", ckpt, tmp_path / "full.pt")
    half = _run(script, "first", ckpt, tmp_path / "first.pt")
    resumed = _run(script, "second", ckpt, tmp_path / "second.pt")
    assert torch.equal(resumed["counts"], full["counts"]) and int(full["counts"].sum()) == 40
    for key, w in full["net"].items():
        assert (resumed["net"][key] - w).abs().max() <= 1e-6, key
    # The last 20 steps moved the weights far beyond the tolerance; the checkpoint holds P-Adam/P-SAGA state.
    assert max((full["net"][k] - w).abs().max() for k, w in half["net"].items()) > 1e-4
    state = torch.load(ckpt, weights_only=True)
    assert any(k.startswith("pathwise.saga_mem_") for k in state["loss"])
    assert any(k.startswith("pathwise.adam_m_") for k in state["loss"])
