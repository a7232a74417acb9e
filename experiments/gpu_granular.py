"""Granular sound matching on one GPU inside a fixed wall-clock budget: many runs side by side.

For a short GPU slot (minutes): the script spends it on training only and brings back what the
evaluation needs. Every run of ``RUNS`` trains at the same time on the one GPU (one process each,
``--device cuda``). First a short probe of all runs together measures the seconds per step under that
load; then every run trains for the same number of steps — the most that the slowest run fits into the
budget, in whole validation epochs — with the LR schedule of that length, and ``--time-limit`` as a
safety net. Last, each run's ``best.pt``, ``val.csv`` and ``train.csv`` plus a summary go into one
``granular_gpu.tar.gz``; test evaluation happens afterwards on any machine
(``scrapl-live eval RUN/best.pt --data synthetic --split test --max-items 256 --no-jtfs``).

    python experiments/gpu_granular.py OUT [--budget 480] [--only scrapl-s0,mss-s0]

Without ``--only`` all 15 runs share the GPU.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

# Shared by every run: the reduced-budget granular setting of docs/results.md at the paper's batch size.
COMMON = ["--synth", "granular", "--batch-size", "32", "--val-items", "256", "--threads", "1"]
# name -> extra flags; "paper" is the paper's granular configuration (paper encoder, lr 1e-5, one path per
# step) less θ-IS.
RUNS = {
    **{f"scrapl-s{s}": ["--loss", "scrapl", "--paths-per-step", "1", "--lr", "1e-3", "--seed", str(s)]
       for s in range(5)},
    # four paths per step (one backward pass, the default): docs/results.md
    **{f"scrapl-k4-s{s}": ["--loss", "scrapl", "--paths-per-step", "4", "--lr", "1e-3", "--seed", str(s)]
       for s in range(5)},
    **{f"mss-s{s}": ["--loss", "mss-rand", "--lr", "1e-3", "--seed", str(s)] for s in range(3)},
    "ploss-s0": ["--loss", "ploss", "--lr", "1e-3", "--seed", "0"],
    "paper-s0": ["--loss", "scrapl", "--paths-per-step", "1", "--size", "paper", "--seed", "0"],
}
PROBE_STEPS = 30
# Steps are sized to this share of the budget: with 10 runs side by side on one GPU, training stepped ~9 %
# slower than the probe and also validated, so the SCRAPL runs hit the time limit at 86-89 % of the steps.
MARGIN = 0.8


def launch(name: str, flags: list[str], out: Path, steps: int, epoch: int, limit: float) -> subprocess.Popen:
    """Start one training process; its console output goes to ``out/name.log``."""
    cmd = [sys.executable, "-m", "scrapl_live.cli", "train", *COMMON, *flags, "--max-steps", str(steps),
           "--epoch-steps", str(epoch), "--time-limit", f"{limit:.0f}", "--out-dir", str(out / name)]
    log = open(out / f"{name}.log", "w")  # noqa: SIM115 - closed by the child's exit
    return subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)


def wait_all(procs: dict[str, subprocess.Popen], deadline: float) -> dict[str, int | None]:
    """Wait for every process until ``deadline`` (monotonic); kill the rest. Exit codes (None = killed)."""
    while time.monotonic() < deadline and any(p.poll() is None for p in procs.values()):
        time.sleep(1)
    codes: dict[str, int | None] = {}
    for name, p in procs.items():
        if p.poll() is None:
            p.kill()
            p.wait()
            codes[name] = None
        else:
            codes[name] = p.returncode
    return codes


def seconds_per_step(run: Path, skip: int = 10) -> float:
    """Median wall seconds per step after the first ``skip`` steps (``train.csv``'s ``wall_s``)."""
    with open(run / "train.csv", newline="") as f:
        wall = [float(r["wall_s"]) for r in csv.DictReader(f)]
    return statistics.median(b - a for a, b in zip(wall[skip:], wall[skip + 1 :], strict=False))


def last_step(run: Path) -> int:
    """The last step ``train.csv`` logged (0 when the run logged none)."""
    if not (run / "train.csv").is_file():
        return 0
    with open(run / "train.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return int(rows[-1]["step"]) if rows else 0


def pack(out: Path, names: list[str], summary: dict, tar_path: Path) -> Path:
    """The files evaluation and the write-up need (of the runs ``names`` in ``out``), in one archive."""
    (out / "summary.json").write_text(json.dumps(summary))
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "w:gz") as tar:
        tar.add(out / "summary.json", arcname="summary.json")
        for name in names:
            for item in ("best.pt", "val.csv", "train.csv", "curves.png"):
                if (out / name / item).is_file():
                    tar.add(out / name / item, arcname=f"{name}/{item}")
            if (out / f"{name}.log").is_file():
                tar.add(out / f"{name}.log", arcname=f"{name}/console.log")
    return tar_path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", type=Path, help="working folder of the runs (checkpoints with full state: large)")
    ap.add_argument("--archive", type=Path, default=None, help="where the archive goes (default: OUT/...)")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--epoch", type=int, default=250, help="steps between validations")
    ap.add_argument("--budget", type=float, default=480.0, help="seconds from start to the end of training")
    ap.add_argument("--only", default=None, help="comma-separated subset of the runs")
    ap.add_argument("--commit", default=None, help="git commit of the tree (recorded in the summary)")
    args = ap.parse_args()
    t0 = time.monotonic()
    tar_path = args.archive or args.out / "granular_gpu.tar.gz"
    flags = {n: [*f, "--device", args.device] for n, f in RUNS.items()}
    names = args.only.split(",") if args.only else list(RUNS)
    unknown = sorted(set(names) - set(RUNS))
    if unknown:
        raise SystemExit(f"unknown runs {unknown}; known: {sorted(RUNS)}")
    runs = args.out / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    summary: dict = {"commit": args.commit, "runs": {n: RUNS[n] for n in names}, "common": COMMON}

    probe_dir = args.out / "probe"
    probe_dir.mkdir(exist_ok=True)
    probe = {n: launch(n, flags[n], probe_dir, PROBE_STEPS, PROBE_STEPS, 120) for n in names}
    codes = wait_all(probe, t0 + 240)
    summary["probe_s"] = round(time.monotonic() - t0, 1)
    failed = {n: c for n, c in codes.items() if c != 0}
    if failed:
        summary["probe_failed"] = failed
        print(json.dumps(summary))
        for n in failed:
            print(f"--- {n}.log ---\n" + (probe_dir / f"{n}.log").read_text()[-3000:])
        pack(probe_dir, sorted(failed), summary, tar_path)
        raise SystemExit(1)
    sps = {n: seconds_per_step(probe_dir / n) for n in names}
    summary["probe_s_per_step"] = {n: round(v, 4) for n, v in sps.items()}
    # process start, dataset, path tables and the probe's one validation: what the probe spent off-steps
    startup = max(30.0, summary["probe_s"] - PROBE_STEPS * max(sps.values()))
    train_s = args.budget - (time.monotonic() - t0) - startup
    steps = max(args.epoch, int(MARGIN * train_s / max(sps.values()) / args.epoch) * args.epoch)
    summary["steps"] = steps
    print(json.dumps(summary), flush=True)

    t_train = time.monotonic()
    procs = {n: launch(n, flags[n], runs, steps, args.epoch, train_s) for n in names}
    summary["exit_codes"] = wait_all(procs, t0 + args.budget + 45)
    summary["train_s"] = round(time.monotonic() - t_train, 1)
    summary["steps_done"] = {n: last_step(runs / n) for n in names}
    print(json.dumps(summary))
    print(f"packed {pack(runs, names, summary, tar_path)} after {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
