"""Validation θ-L1 curves of several training runs side by side (one panel per metric).

    python experiments/plot_val_curves.py -o docs/figures/granular_2000_val_curves.png \
        runs/g2k-scrapl runs/g2k-mss-rand runs/g2k-ploss
"""

from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from scrapl_live.train.curves import CSVLog  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders holding val.csv")
    ap.add_argument("-o", "--out", type=Path, required=True, help="PNG to write")
    ap.add_argument("--ymax", type=float, help="clip the y axes here (a diverged run would flatten the rest)")
    args = ap.parse_args()
    logs = {run.name: CSVLog(run / "val.csv").rows for run in args.runs}
    metrics: list[str] = []  # θ L1 columns of any run (val_raw_theta_l1: raw weights of an --ema-decay run)
    for row in (r for rows in logs.values() for r in rows):
        metrics += [k for k in row if k.startswith(("val_theta_l1", "val_raw_theta_l1")) and k not in metrics]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 3.4), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        for name, rows in logs.items():
            pts = [(int(r["step"]), float(r[metric])) for r in rows if r.get(metric) not in (None, "")]
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", label=name)
        ax.axhline(244, color="grey", lw=0.8, ls=":")  # constant θ̂ = 0.5 on these items (≈ chance)
        title = metric.replace("val_raw_theta_l1", "θ L1 ‰ raw weights").replace("val_theta_l1", "θ L1 ‰")
        ax.set(title=title.replace("_", " "), xlabel="step")
        ax.grid(alpha=0.3)
        if args.ymax is not None:
            ax.set_ylim(top=args.ymax)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=110)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
