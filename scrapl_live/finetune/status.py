"""Fine-tune status: ``status.json`` (written by the worker), a text summary and a PNG of the held-out curve.

``status.json`` keys: ``state`` (waiting | training | stopped), ``pid``, ``device``, ``step``,
``steps_per_min`` (this session), ``last_loss``, ``samples`` ({train, heldout, skipped: {file: reason}}),
``history`` (one record per evaluation: step, heldout_distance, n_train, n_heldout, time, exported),
``best`` ({step, heldout_distance}), ``model`` (the exported model.onnx or None), ``base_model``,
``exports``, ``updated`` (Unix time).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STATUS_FILE = "status.json"


def write_status(worker: Any, state: str) -> dict[str, Any]:
    """Rewrite ``out_dir/status.json`` atomically from a running :class:`.worker.FinetuneWorker`."""
    from scrapl_live.finetune.persist import write_json_atomic

    data = worker.data
    model = worker.out / "model.onnx"
    best = None if worker.best is None else {k: worker.best[k] for k in ("step", "heldout_distance")}
    status = {
        "state": state, "pid": os.getpid(), "device": str(worker.device), "step": worker.step,
        "steps_per_min": worker.steps_per_min, "last_loss": worker.last_loss,
        "samples": {"train": 0 if data is None else len(data.train),
                    "heldout": 0 if data is None else len(data.heldout),
                    "skipped": {} if data is None else data.skipped},
        "history": worker.history, "best": best, "model": str(model) if model.is_file() else None,
        "base_model": str(worker.cfg.model), "exports": worker.exports, "updated": time.time(),
    }
    write_json_atomic(worker.out / STATUS_FILE, status)
    return status


def read_status(out_dir: str | Path) -> dict[str, Any]:
    """The worker's last status; FileNotFoundError when no worker has written one into ``out_dir``."""
    path = Path(out_dir) / STATUS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"out_dir: no fine-tune status in {Path(out_dir)} (has a worker run there?)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"out_dir: {path} is not valid JSON: {exc}") from exc


def format_status(status: dict[str, Any]) -> str:
    """Human-readable multi-line summary of a status dict."""
    s = status["samples"]
    rate = status.get("steps_per_min")
    lines = [
        f"state {status['state']} (pid {status['pid']}, {status['device']}), step {status['step']}"
        + (f", {rate:.2f} steps/min" if rate else ""),
        f"samples: {s['train']} train, {s['heldout']} held out, {len(s['skipped'])} skipped",
        f"model: {status['model'] or '(none exported yet)'}  base: {status['base_model']}",
    ]
    lines += [f"  skipped {name}: {why}" for name, why in s["skipped"].items()]
    if status["history"]:
        lines.append("held-out distance (SCRAPL eval paths):")
        for rec in status["history"]:
            mark = "  exported" if rec["exported"] else ""
            lines.append(f"  step {rec['step']:>7}  {rec['heldout_distance']:.5g}  "
                         f"({rec['n_train']} train / {rec['n_heldout']} held out){mark}")
    return "\n".join(lines)


def plot_status(status: dict[str, Any], path: str | Path) -> Path:
    """PNG of the held-out distance against the step; exported models marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hist = status["history"]
    if not hist:
        raise ValueError("status: no held-out evaluation yet, nothing to plot")
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot([r["step"] for r in hist], [r["heldout_distance"] for r in hist], "o-", label="held-out")
    ex = [r for r in hist if r["exported"]]
    if ex:
        ax.plot([r["step"] for r in ex], [r["heldout_distance"] for r in ex], "*", ms=12, label="exported")
    ax.set_xlabel("fine-tune step")
    ax.set_ylabel("JTFS distance (SCRAPL eval paths)")
    ax.set_title(f"fine-tune: {Path(status['base_model']).name}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
