"""Which JTFS paths vote well for which synth parameter?  Reads the descent-vote agreement
(``RUN/vote_is/agreement.pt``, written by ``scrapl-live train --vote-is``) of one or more runs and groups
it by the path's second-order scale j2, frequential scale j_fr and spin.

Prints, per parameter: the agreement between runs (correlation of the per-path agreements, overlap
of their top-30 paths: is the estimate reproducible?), the mean agreement per j2 / j_fr / spin over the
runs, and the mean drift per step (2a − 1) under uniform sampling and under the run's own vote-IS
probabilities.  PNG: mean agreement per j2 for each parameter, with the runs' range.

    python docs/analysis/vote_agreement.py runs/g6k-scrapl-vote-seed0 runs/g6k-scrapl-vote-seed1 \
        -o docs/figures/granular_vote_agreement.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

import synths
from scrapl_live.train.checkpoint import load_checkpoint
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.losses import make_train_loss


def load_run(run: Path) -> tuple[np.ndarray, np.ndarray, TrainConfig]:
    """Agreement (P, U), the vote-IS sampling probabilities (P,) and the training config of a run."""
    share_path, last = run / "vote_is" / "agreement.pt", run / "last.pt"
    for path in (share_path, last):
        if not path.is_file():
            raise SystemExit(f"{path} is missing: is {run} a finished `scrapl-live train --vote-is` run?")
    ck = load_checkpoint(last)
    share = torch.load(share_path, weights_only=True).double().numpy()
    return share, ck["loss_state"]["probs"].double().numpy(), TrainConfig.from_dict(ck["train_config"])


def grouped(share: np.ndarray, key: np.ndarray) -> dict[int, np.ndarray]:
    """Mean agreement (..., U) of the paths with each value of ``key`` (P,)."""
    return {int(k): share[..., key == k, :].mean(-2) for k in np.unique(key)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path, help="run folders trained with --vote-is (same synth)")
    ap.add_argument("-o", "--out", help="PNG path")
    args = ap.parse_args()
    loaded = [load_run(r) for r in args.runs]
    cfg = loaded[0][2]
    if any(c.synth != cfg.synth or c.jtfs_settings != cfg.jtfs_settings for _, _, c in loaded):
        raise SystemExit("the runs differ in synth or JTFS settings: their paths do not correspond")
    synth = synths.get(cfg.synth, **cfg.synth_options)
    meta = make_train_loss(cfg, synth).meta  # the runs' own paths, built as the trainer builds them
    shares = np.stack([s for s, _, _ in loaded])  # (R, P, U)
    names = list(synth.param_names)
    for u, name in enumerate(names):
        print(f"{name}:")
        if len(loaded) > 1:
            corr = np.corrcoef(shares[:, :, u])[np.triu_indices(len(loaded), 1)]
            top = [set(np.argsort(-s[:, u])[:30].tolist()) for s in shares]
            overlap = [len(top[i] & top[j]) for i in range(len(top)) for j in range(i + 1, len(top))]
            print(f"  between runs: correlation {corr.mean():.2f} ({corr.min():.2f}–{corr.max():.2f}), "
                  f"top-30 overlap {np.mean(overlap):.1f} of 30")
        for key in ("j2", "j_fr", "spin"):
            groups = grouped(shares.mean(0), np.asarray(meta[key]))
            print(f"  by {key}: " + ", ".join(f"{k}: {g[u]:.2f}" for k, g in groups.items()))
        drift = [(float((2 * s[:, u] - 1).mean()), float((2 * s[:, u] - 1) @ p)) for s, p, _ in loaded]
        print("  mean drift per step, uniform -> vote-IS: "
              + ", ".join(f"{a:.3f} -> {b:.3f}" for a, b in drift))
    if args.out:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        by_j2 = grouped(shares, np.asarray(meta["j2"]))  # {j2: (R, U)}
        j2 = np.array(list(by_j2))
        vals = np.stack(list(by_j2.values()))  # (J, R, U)
        fig, ax = plt.subplots(figsize=(6, 3.5))
        for u, name in enumerate(names):
            ax.plot(j2, vals[:, :, u].mean(1), marker="o", label=name)
            ax.fill_between(j2, vals[:, :, u].min(1), vals[:, :, u].max(1), alpha=0.2)
        ax.axhline(0.5, color="grey", lw=0.8, ls="--")
        ax.set_xlabel("second-order temporal scale j2")
        ax.set_ylabel("share of items voting right")
        ax.set_title(f"{cfg.synth}: descent-vote agreement by j2 ({len(loaded)} runs, range shaded)")
        ax.legend()
        fig.tight_layout()
        fig.savefig(args.out, dpi=120)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
