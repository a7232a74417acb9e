"""How reliably does each loss point a stuck prediction towards the target? Granular texture, one
parameter swept over [0, 1] with the other at its true value (or off by --other-offset), on synthetic
test items (same grain seed as the target, as in training).

For every grid value v and item, a loss "points right" when its distance falls towards the true θ
(central finite difference over one grid step). Reported per parameter: the share of SCRAPL paths that
point right (what one SCRAPL step sees, sign-wise, as P-Adam scales each path's gradient to a similar
size), the share of items for which the path mean (the full JTFS distance, SCRAPL's expectation) and
MSS log+lin point right; at v = 0.5 (where the SCRAPL seeds that miss the chirp slope sit) and over
the whole sweep. PNG: normalised distance against v − θ per item, and the share of paths pointing
right against v − θ.

    python experiments/loss_landscape.py runs/g6k-scrapl/best.pt -o docs/figures/granular_landscape.png
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from tqdm import tqdm

import synths
from scrapl_live.encoder.encoder import encoder_from_checkpoint
from scrapl_live.loss import SCRAPLLoss
from scrapl_live.loss.baselines import make_loss
from scrapl_live.train.data import synthetic_dataset
from scrapl_live.train.evaluate import card_train_config, spread_indices


def sweep(
    loss: SCRAPLLoss, mss: torch.nn.Module, synth: torch.nn.Module, theta: torch.Tensor, seed: torch.Tensor,
    u: int, grid: torch.Tensor, other_offset: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Distances of the item (θ (U,), seed) to renders with θ_u = each grid value and the other
    parameters moved by ``other_offset`` towards their farther end: (P, G) per path and (G,) MSS."""
    th = theta.repeat(len(grid), 1)
    th += torch.where(theta < 0.5, other_offset, -other_offset)
    th[:, u] = grid
    s = seed.repeat(len(grid))
    with torch.no_grad():
        x_hat = synth(th, s)
        target = synth(theta[None], seed[None]).expand_as(x_hat)
        per_path = loss.path_dists(x_hat, target, range(loss.n_paths))
        m = torch.stack([mss(x_hat[g : g + 1], target[:1]) for g in range(len(grid))])
    return per_path.double().numpy(), m.double().numpy()


def points_right(d: np.ndarray, grid: np.ndarray, truth: float) -> tuple[np.ndarray, np.ndarray]:
    """For interior grid points: (v − θ (G-2,), bool (..., G-2)) whether d falls towards θ there; NaN
    offsets where the two neighbours straddle θ (the sign is undefined there)."""
    v = grid[1:-1]
    slope = d[..., 2:] - d[..., :-2]
    off = np.where(np.abs(v - truth) >= grid[1] - grid[0], v - truth, np.nan)
    return off, np.sign(slope) == np.sign(v - truth)


def share(ok: np.ndarray, off: np.ndarray) -> float:
    """Share of True in ``ok`` (..., items, points) over the points with a defined offset (items, points)."""
    valid = np.broadcast_to(~np.isnan(off), ok.shape)
    return float(ok[valid].mean()) if valid.any() else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("checkpoint", help="a granular run's checkpoint (for its synth and JTFS settings)")
    ap.add_argument("-o", "--out", help="PNG path")
    ap.add_argument("--items", type=int, default=8, help="test items, spread over the split")
    ap.add_argument("--points", type=int, default=13, help="grid values per parameter (odd: includes 0.5)")
    ap.add_argument("--param", help="sweep only this parameter (default: each in turn)")
    ap.add_argument("--other-offset", type=float, default=0.0,
                    help="error put on the other parameters while one is swept (0: at their true values)")
    args = ap.parse_args()
    if args.points < 5 or args.points % 2 == 0:
        raise SystemExit("--points must be odd and >= 5 (the grid must contain 0.5)")
    _, card = encoder_from_checkpoint(args.checkpoint)
    cfg = card_train_config(card)
    synth = synths.get(cfg.synth, **cfg.synth_options)
    loss = SCRAPLLoss(synth.n_samples, **cfg.jtfs_distance_settings, use_p_adam=False, use_p_saga=False)
    loss.eval()
    mss = make_loss("mss-loglin")
    ds = synthetic_dataset(cfg, "test", synth.params)
    idx = spread_indices(len(ds.theta), args.items)
    grid = torch.linspace(0.02, 0.98, args.points)
    half = args.points // 2 - 1  # index of v = 0.5 among the interior points
    names = list(synth.param_names)
    if args.param is not None and args.param not in names:
        raise SystemExit(f"--param must be one of {names}")
    rows = {}
    for u, name in enumerate(names):
        if args.param not in (None, name):
            continue
        offsets, paths_ok, mean_ok, mss_ok, curves = [], [], [], [], []
        for i in tqdm(idx.tolist(), desc=name):
            theta, seed = ds.theta[i], ds.seed[i]
            d, m = sweep(loss, mss, synth, theta, seed, u, grid, args.other_offset)
            off, ok = points_right(d, grid.numpy(), float(theta[u]))
            offsets.append(off)
            paths_ok.append(ok)
            mean_ok.append(points_right(d.mean(0), grid.numpy(), float(theta[u]))[1])
            mss_ok.append(points_right(m, grid.numpy(), float(theta[u]))[1])
            curves.append((grid.numpy() - float(theta[u]), d.mean(0) / d.mean(0).max(), m / m.max()))
        off = np.stack(offsets)  # (items, G-2)
        paths_ok = np.stack(paths_ok).transpose(1, 0, 2)  # (P, items, G-2)
        mean_ok, mss_ok = np.stack(mean_ok), np.stack(mss_ok)
        rows[name] = dict(offsets=off, paths_ok=paths_ok, curves=curves)
        h = slice(half, half + 1)
        n_mid = int((~np.isnan(off[:, h])).sum())
        print(f"{name} (others off by {args.other_offset}): at v = 0.5 ({n_mid} items) — SCRAPL paths "
              f"pointing right {share(paths_ok[..., h], off[:, h]):.2f}, path mean (JTFS) "
              f"{share(mean_ok[:, h], off[:, h]):.2f}, MSS {share(mss_ok[:, h], off[:, h]):.2f}; whole sweep "
              f"— paths {share(paths_ok, off):.2f}, path mean {share(mean_ok, off):.2f}, "
              f"MSS {share(mss_ok, off):.2f}")
        spin = np.asarray([int(v) for v in loss.meta["spin"]])
        per_path = np.array([share(paths_ok[p], off) for p in range(len(spin))])
        by_spin = ", ".join(f"{v:+d}: {per_path[spin == v].mean():.2f} ({(spin == v).sum()} paths)"
                            for v in (1, -1, 0))
        print(f"  by spin: {by_spin}; paths pointing right at ≥ 90 % of the points: "
              f"{(per_path >= 0.9).sum()} of {len(spin)}")
    if args.out:
        plot(rows, args.out)


def plot(rows: dict, out: str) -> None:
    """One row per parameter: path-mean distance, MSS distance, share of paths pointing right."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(rows), 3, figsize=(13, 3.4 * len(rows)), squeeze=False)
    for (name, r), (a, b, c) in zip(rows.items(), axes, strict=True):
        for off, jtfs, mss in r["curves"]:
            a.plot(off, jtfs, lw=1)
            b.plot(off, mss, lw=1)
        off, ok = r["offsets"].ravel(), r["paths_ok"].mean(0).ravel()
        keep = ~np.isnan(off)
        off, ok = off[keep], ok[keep]
        c.scatter(off, ok, s=6)
        bins = np.linspace(-1, 1, 21)
        which = np.digitize(off, bins)
        centres = [(bins[k - 1] + bins[k]) / 2 for k in np.unique(which)]
        c.plot(centres, [ok[which == k].mean() for k in np.unique(which)], "k-", lw=1.5)
        c.axhline(0.5, ls=":", c="grey")
        for ax, title in ((a, "JTFS path mean (SCRAPL's expectation)"), (b, "MSS log+lin"),
                          (c, "share of SCRAPL paths pointing to θ")):
            ax.set_title(f"{name}: {title}", fontsize=9)
            ax.set_xlabel(f"θ̂_{name} − θ_{name}")
            ax.axvline(0, ls=":", c="grey")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
