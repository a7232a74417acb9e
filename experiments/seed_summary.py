"""Test θ-L1 of several seeds per setting: mean ± sample standard deviation, range, and ratios of means.

Each setting is ``LABEL=RUN[,RUN...]``; a run folder holds the ``best.eval.json`` that
``scrapl-live eval RUN/best.pt ...`` writes.  The ratio column divides each setting's mean by the
first setting's mean (the reference, e.g. the best MSS variant).

    python experiments/seed_summary.py "MSS rand=runs/g6k-mss-rand,runs/g6k-mss-rand-seed1" \
        "SCRAPL=runs/g6k-scrapl,runs/g6k-scrapl-seed1"
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def read_eval(run: Path) -> dict[str, float]:
    """Overall and per-parameter test θ L1 (‰) of ``run/best.eval.json``."""
    path = run / "best.eval.json"
    if not path.is_file():
        raise SystemExit(f"{path} is missing: evaluate the run first (scrapl-live eval {run}/best.pt ...)")
    rec = json.loads(path.read_text())
    return {"θ L1": rec["metrics"]["theta_l1_permille"], **rec["theta_l1_permille_per_param"]}


def spread(values: list[float]) -> str:
    """``mean ± sd`` (sd only with two or more values) and the range."""
    mean = statistics.fmean(values)
    sd = f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else ""
    return f"{mean:.1f}{sd} ({min(values):.1f}–{max(values):.1f})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("settings", nargs="+", help="LABEL=RUN[,RUN...]; the first is the ratio's reference")
    args = ap.parse_args()
    groups: dict[str, list[dict[str, float]]] = {}
    for item in args.settings:
        label, sep, runs = item.partition("=")
        if not sep or not runs:
            raise SystemExit(f"expected LABEL=RUN[,RUN...], got {item!r}")
        groups[label] = [read_eval(Path(r)) for r in runs.split(",")]
    first = next(iter(groups.values()))
    keys = list(first[0])
    ref = statistics.fmean(r["θ L1"] for r in first)
    head = " | ".join(f"test {k} ‰" for k in keys)
    print(f"| setting | seeds | {head} | per seed θ L1 | ref ÷ mean |")
    print("|---|---|" + "---|" * len(keys) + "---|---|")
    for label, recs in groups.items():
        cols = [spread([r[k] for r in recs]) for k in keys]
        seeds = ", ".join(f"{r['θ L1']:.1f}" for r in recs)
        ratio = ref / statistics.fmean(r["θ L1"] for r in recs)
        print(f"| {label} | {len(recs)} | " + " | ".join(cols) + f" | {seeds} | {ratio:.2f}× |")


if __name__ == "__main__":
    main()
