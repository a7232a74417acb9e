"""Drum-class head accuracy pooled over kit-family folds: a steadier yardstick than one validation split.

The validation kits hold 138 one-shots (3 claps), so a setting or a data source moves their balanced
accuracy by less than its seed-to-seed spread.  Here every recorded training and validation kit is
held out once, by family (kits that share samples — FluidR3's Standard, Room and Power variants — are
one fold), with the test kits left out throughout: ``train-classifier --val-kits FOLD`` per fold, on
one head (``--window``), and the per-class counts are pooled over the folds (≈ 1300 one-shots).
Prints each class's pooled accuracy, the balanced accuracy and "hat" (a hat called a hat).

    python benchmarks/bench_classifier_cv.py --data data/drums [--data data/drumsynth] [--data data/gmfonts]
        [--window 2048] [--seed 0] [--jobs 2] [--train-args "--eq-db 12"]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrapl_live.live.classify import CLASSES  # noqa: E402

FOLDS = (
    ("GMRockKit", "ElectricEmpireKit", "Electronic"),
    ("Standard", *(f"Standard {i}" for i in range(1, 8)), "Room", *(f"Room {i}" for i in range(1, 7)),
     "Power", "Power 1", "Power 2", "Power 3", "Jazz", "Brush", "Orchestra Kit"),
    ("BJA_Pacific", "ForzeeStereo", "Audiophob"),
    ("Millo-Drums_v.1", "Millo_MultiLayered2", "Millo_MultiLayered3", "HardElectro1", "VariBreaks"),
    ("Black_Pearl_4pc", "The Black Pearl 1.0", "ColomboAcousticDrumkit"),
    ("lmms-drums", "rumpf_kit_z01_h2", "Gimme A Hand 1.0", "circAfrique v4"),
)  # fmt: skip
"""Kit families of ``scrapl-live data drums``'s training and validation kits (the first is the shipped
validation split); the Black Pearl kits of AVL and Hydrogen are one family."""


def run_fold(data: list[Path], kits: tuple[str, ...], window: int, seed: int, out: Path,
             extra: list[str]) -> dict:
    """The ``val`` scores of one fold's head (train-classifier's report); ``extra``: more of its flags."""
    cli = "from scrapl_live.cli import main; raise SystemExit(main())"
    cmd = [sys.executable, "-c", cli, "train-classifier",
           *(a for d in data for a in ("--data", str(d))), "--val-kits", *kits, "--windows", str(window),
           "--seed", str(seed), "-o", str(out.with_suffix(".onnx")), "--report", str(out),
           *extra]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"fold {kits[0]}...: train-classifier failed:\n{done.stderr[-2000:]}")
    return json.loads(out.read_text())["windows"][str(window)]["val"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, action="append", required=True, help="corpus folder (repeatable)")
    p.add_argument("--window", type=int, default=2048, help="head window (samples at 44.1 kHz)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="folds trained at once (one thread each)")
    p.add_argument("--train-args", default="", help="more train-classifier flags, one string")
    args = p.parse_args()
    extra = shlex.split(args.train_args)
    with tempfile.TemporaryDirectory() as tmp, ThreadPoolExecutor(args.jobs) as pool:
        jobs = [pool.submit(run_fold, args.data, kits, args.window, args.seed, Path(tmp) / f"fold{i}.json",
                            extra) for i, kits in enumerate(FOLDS)]  # fmt: skip
        scores = [j.result() for j in jobs]
    right, total = Counter(), Counter()
    for v in scores:
        for c in CLASSES:
            n = v["counts"].get(c, 0)
            total[c] += n
            right[c] += round(v["per_class"].get(c, 0.0) * n)
    hats = sum(total[c] for c in ("closed_hat", "open_hat"))
    hat_right = sum(round(v["hat"] * (v["counts"].get("closed_hat", 0) + v["counts"].get("open_hat", 0)))
                    for v in scores)  # fmt: skip
    acc = {c: right[c] / total[c] for c in CLASSES if total[c]}
    print(f"{' + '.join(str(d) for d in args.data)}, window {args.window}, seed {args.seed}, "
          f"{len(FOLDS)} folds, {sum(total.values())} one-shots{', ' + args.train_args if extra else ''}\n")
    print("| balanced | hat | " + " | ".join(CLASSES) + " |")
    print("|---" * (len(CLASSES) + 2) + "|")
    print(f"| {sum(acc.values()) / len(acc):.3f} | {hat_right}/{hats} = {hat_right / hats:.3f} | "
          + " | ".join(f"{right[c]}/{total[c]}" for c in CLASSES) + " |")


if __name__ == "__main__":
    main()
