"""Value sweep: every SCRAPL path of both paper configs vs the scrapl-loss reference (B=1, float32).

Prints, per config, the max and median relative L2 error over all paths (and the worst path), plus the
full transform's error for the drum config when --full is given.  Slow (the reference recomputes the
whole scalogram per path): use --step k to check every k-th path only.
Usage: python benchmarks/bench_jtfs_values.py [--step 1] [--full]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from scrapl_live.scattering import JTFS  # noqa: E402
from tests.reference import run_reference  # noqa: E402

CONFIGS = {
    "granular (P=315)": dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8),
    "drums (P=483)": dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1),
}

_REFERENCE = """
loss = SCRAPLLoss(**inputs["cfg"])
x = inputs["x"]
outputs["coefs"] = [loss.jtfs.scattering_singlepath(x, *loss.scrapl_keys[i])["coef"].squeeze(-1)
                    for i in inputs["idx"]]
if inputs["full"]:
    outputs["full"] = loss.jtfs.scattering(x)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--step", type=int, default=1, help="check every k-th path")
    ap.add_argument("--full", action="store_true", help="also compare the full transform (all paths at once)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    for name, cfg in CONFIGS.items():
        torch.manual_seed(0)
        jtfs = JTFS(**cfg)
        x = torch.randn(1, cfg["shape"])
        idx = list(range(0, jtfs.n_paths, args.step))
        ref = run_reference(_REFERENCE, {"cfg": cfg, "x": x, "idx": idx, "full": args.full}, timeout=36000)
        ours = jtfs.paths(x, idx)
        errs = [float((o - r).norm() / r.norm()) for o, r in zip(ours, ref["coefs"], strict=True)]
        worst = max(range(len(errs)), key=errs.__getitem__)
        print(
            f"{name}: {len(idx)} paths, max rel. error {max(errs):.2e} (path {idx[worst]} "
            f"{jtfs.scrapl_keys[idx[worst]]}), median {statistics.median(errs):.2e}"
        )
        if args.full:
            full = jtfs(x)
            err = float((full - ref["full"]).norm() / ref["full"].norm())
            print(f"{name}: full transform {tuple(full.shape)}, rel. error {err:.2e}")


if __name__ == "__main__":
    main()
