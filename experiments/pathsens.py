"""Which SCRAPL paths carry gradient for which synth parameter: per-path θ-gradients of a trained encoder.

For a batch of synthetic items (known θ) the encoder predicts θ̂; for every requested path p the SCRAPL
distance L_p(synth(θ̂), x) is differentiated w.r.t. θ̂, giving G[p] (B, U).  From G:

* ``share[p, u]`` = Σ_b G[p,b,u]² / Σ_b,u' G[p,b,u']²: the part of path p's θ-gradient that moves θ_u;
* the share of u in one optimiser step when k paths are drawn from π (uniform, or the θ-IS proxy
  π_p ∝ mean_u (Σ_b G[p,b,u]² / Σ_p' Σ_b G[p',b,u]²), a Gauss-Newton stand-in for the θ-IS curvature
  |λ|, docs/method.md#θ-is).  A step's gradient is the plain mean of its k paths' gradients: the k
  paths share one backward pass, so P-Adam receives (and normalises) their mean, and the loudest
  path leads it;
  "balanced" steps first scale each path's gradient on item b by m_b / d_{p,b} (d: the path's
  distance on the item, m_b: the mean of the k distances), which the per-path distances D make
  possible;
* the same with the gradient rescaled per θ dimension to equal RMS over the paths;
* the drift of a step towards the truth: per θ_u, the mean over items of sign(step) · sign(θ̂_u − θ_u)
  (items with |θ̂_u − θ_u| ≤ 0.05 left out): 0 is a coin toss, 1 every step moves θ̂_u the right way.

Run: ``python experiments/pathsens.py CHECKPOINT --out DIR`` (JSON + PNG; the gradients and
distances are saved, and ``--from-grads DIR/path_theta_grads.pt`` re-analyses them without recomputing);
used for docs/results.md.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

log = logging.getLogger(__name__)


def balance_weights(dists: torch.Tensor, eps: float) -> torch.Tensor:
    """Balanced-step weights for per-item distances (k, B): (mean of the k distances on each item) /
    (each distance), so that Σ_p w_p d_p keeps the value and every path gets an equal say."""
    return dists.mean(0, keepdim=True) / dists.clamp(min=eps)


def path_theta_grads(
    loss: torch.nn.Module, synth: torch.nn.Module, theta_hat: torch.Tensor, x: torch.Tensor,
    seed: torch.Tensor, paths: list[int],
) -> tuple[torch.Tensor, torch.Tensor]:
    """∂L_p/∂θ̂ for each path p (P', B, U) and the per-item distances d_{p,b} (P', B).
    theta_hat (B, U) in [0, 1], x (B, 1, N) targets, seed (B,)."""
    if theta_hat.ndim != 2 or x.ndim != 3 or x.shape[0] != theta_hat.shape[0]:
        raise ValueError(f"theta_hat (B, U) and x (B, 1, N) must agree, got {tuple(theta_hat.shape)}, "
                         f"{tuple(x.shape)}")
    from tqdm import tqdm

    leaf = theta_hat.detach().clone().requires_grad_(True)
    grads, dists = [], []
    for p in tqdm(paths, desc="paths", leave=False):
        d = loss.path_dists(synth(leaf, seed), x, [p])[0]  # per item; calc_dist's value is their mean
        (g,) = torch.autograd.grad(d.mean(), leaf)
        grads.append(g.detach())
        dists.append(d.detach())
    return torch.stack(grads), torch.stack(dists)


def _steps(
    g: torch.Tensor, probs: np.ndarray, k: int, draws: int, rng: np.random.Generator,
    dists: torch.Tensor | None = None,
) -> Iterator[torch.Tensor]:
    """``draws`` step gradients (B, U): each the mean of k paths of g (P', B, U) drawn from ``probs``
    without replacement; with ``dists`` (P', B) each path weighted per item by :func:`balance_weights`."""
    for _ in range(draws):
        pick = rng.choice(len(probs), size=k, replace=False, p=probs)
        if dists is None:
            yield g[pick].mean(0)
            continue
        yield (g[pick] * balance_weights(dists[pick].to(g.dtype), 1e-300)[..., None]).mean(0)


def step_shares(
    g: torch.Tensor, probs: np.ndarray, k: int, draws: int, rng: np.random.Generator,
    dists: torch.Tensor | None = None,
) -> np.ndarray:
    """Mean share of each θ dimension in a step of k paths drawn from ``probs`` (without replacement),
    the step's gradient being the mean of the k paths' gradients (B, U): (U,). g: (P', B, U)."""
    total = np.zeros(g.shape[-1])
    for step in _steps(g, probs, k, draws, rng, dists):
        e = step.square().sum(0).numpy()
        total += e / max(e.sum(), 1e-30)
    return total / draws


def step_drift(
    g: torch.Tensor, error: torch.Tensor, probs: np.ndarray, k: int, draws: int, rng: np.random.Generator,
    tol: float = 0.05, dists: torch.Tensor | None = None,
) -> np.ndarray:
    """Mean drift towards the truth of a descent step on k paths drawn from ``probs``: (U,).

    g: (P', B, U) per-path gradients; error: θ̂ − θ (B, U).  Per draw and θ_u, the mean over the items
    with |error| > ``tol`` of sign(mean_k g) · sign(error) (a descent step moves θ̂ by −g); NaN for a
    θ_u with no such item."""
    valid = (error.abs() > tol).to(g.dtype)
    sign = torch.sign(error).to(g.dtype) * valid
    count = valid.sum(0)
    total = torch.zeros(g.shape[-1], dtype=torch.float64)
    for step in _steps(g, probs, k, draws, rng, dists):
        total += (torch.sign(step) * sign).sum(0).double()
    out = total / draws / count.double()
    return torch.where(count > 0, out, torch.nan).numpy()


def analyse(g: torch.Tensor, names: list[str], rates: np.ndarray, ks: tuple[int, ...] = (1, 4),
            draws: int = 2000, seed: int = 0, error: torch.Tensor | None = None,
            dists: torch.Tensor | None = None) -> dict[str, Any]:
    """The statistics of the module docstring from per-path gradients g (P', B, U); the drift needs
    ``error`` = θ̂ − θ (B, U); ``dists`` (P', B) adds the balanced steps (uniform paths)."""
    e = g.double().square().sum(1)  # (P', U)
    share = (e / e.sum(1, keepdim=True).clamp(min=1e-300)).numpy()
    col = e / e.sum(0, keepdim=True).clamp(min=1e-300)  # per-u distribution over paths
    theta_is = col.mean(1).numpy()
    uniform = np.full(len(theta_is), 1.0 / len(theta_is))
    rms = e.mean(0).sqrt()
    g_norm = g.double() * (rms.mean() / rms.clamp(min=1e-300))

    def named(v: np.ndarray) -> dict[str, float]:
        return dict(zip(names, np.round(v, 4).tolist(), strict=True))

    rng = np.random.default_rng(seed)
    gd = g.double()
    mixes = [("uniform", gd, uniform, None), ("theta_is_proxy", gd, theta_is, None),
             ("uniform+theta_grad_norm", g_norm, uniform, None)]
    if dists is not None:
        mixes.append(("uniform balanced", gd, uniform, dists))
    steps = {f"{label} k={k}": named(step_shares(gg, probs, k, draws, rng, d))
             for label, gg, probs, d in mixes for k in ks}
    drift = {} if error is None else {
        f"{label} k={k}": named(step_drift(gg, error, probs, k, draws, rng, dists=d))
        for label, gg, probs, d in mixes if label != "uniform+theta_grad_norm" for k in ks}
    bands = {"> 500 Hz": rates > 500, "50-500 Hz": (rates > 50) & (rates <= 500),
             "10-50 Hz": (rates > 10) & (rates <= 50), "<= 10 Hz": rates <= 10}
    return {
        "share_by_rate": {b: named(share[m].mean(0)) for b, m in bands.items() if m.any()},
        "paths_by_rate": {b: int(m.sum()) for b, m in bands.items()},
        "prob_by_rate": {b: {"uniform": float(uniform[m].sum()), "theta_is_proxy": float(theta_is[m].sum())}
                         for b, m in bands.items()},
        "max_share": named(share.max(0)),
        "grad_rms": dict(zip(names, rms.tolist(), strict=True)),
        "step_share": steps,
        "step_drift": drift,
        "share": share,
        "theta_is_proxy": theta_is,
    }


def plot(res: dict[str, Any], names: list[str], rates: np.ndarray, out: Path) -> None:
    """Heat map of share[p, u] (paths sorted by rate), the per-step shares and (when computed) the step
    drift against k: one PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    order = np.argsort(-rates)
    drift = res.get("step_drift") or {}
    ratios = [1.2, 1, 0.8] if drift else [1.2, 1]
    fig, axes = plt.subplots(1, len(ratios), figsize=(5.5 * len(ratios), 5),
                             gridspec_kw={"width_ratios": ratios})
    a, b = axes[0], axes[1]
    im = a.imshow(res["share"][order].T, aspect="auto", cmap="magma", vmin=0, vmax=1)
    a.set_yticks(range(len(names)), names, fontsize=7)
    ticks = np.linspace(0, len(order) - 1, 6).astype(int)
    a.set_xticks(ticks, [f"{rates[order][t]:.0f}" for t in ticks])
    a.set_xlabel("path (sorted by temporal modulation rate, Hz)")
    a.set_title("share of each path's θ-gradient per parameter")
    fig.colorbar(im, ax=a)
    labels = list(res["step_share"])
    x = np.arange(len(names))
    w = 0.8 / len(labels)
    for i, lab in enumerate(labels):
        b.bar(x + i * w, [res["step_share"][lab][n] for n in names], w, label=lab)
    b.set_xticks(x + 0.4, names, rotation=70, fontsize=7)
    b.set_yscale("log")
    b.set_title("share of a step's θ-gradient (mean of its k paths)")
    b.legend(fontsize=6)
    if drift:
        c = axes[2]
        for sampling in dict.fromkeys(lab.rsplit(" k=", 1)[0] for lab in drift):
            ks = [int(lab.rsplit("=", 1)[1]) for lab in drift if lab.startswith(sampling + " k=")]
            style = {"uniform": "o-", "theta_is_proxy": "s--"}.get(sampling, "^:")
            for name in names:
                c.plot(ks, [drift[f"{sampling} k={k}"][name] for k in ks], style, label=f"{name}, {sampling}")
        c.axhline(0, color="grey", lw=0.8)
        c.set_xscale("log", base=2)
        c.set_xlabel("paths per step k")
        c.set_ylabel("drift towards the truth (0 = coin toss)")
        c.set_title("how often a step moves θ̂_u the right way")
        c.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _compute(args: argparse.Namespace, encoder: torch.nn.Module, cfg: Any, synth: torch.nn.Module
             ) -> dict[str, Any]:
    """Per-path θ-gradients and distances on ``args.items`` synthetic val items (the saved record)."""
    from scrapl_live.loss import SCRAPLLoss
    from scrapl_live.train.data import synthetic_dataset
    from scrapl_live.train.evaluate import spread_indices

    loss = SCRAPLLoss(synth.n_samples, **cfg.jtfs_settings, n_theta=synth.n_params,
                      use_p_adam=False, use_p_saga=False)
    all_fr = {int(v) for v in loss.meta["n_fr"]}
    n_fr = all_fr if args.n_fr == "all" else {int(v) for v in args.n_fr.split(",")}
    paths = [p for p in range(loss.n_paths) if int(loss.meta["n_fr"][p]) in n_fr]
    if not paths:
        raise ValueError(f"--n-fr {args.n_fr!r} selects no path")
    ds = synthetic_dataset(cfg, "val", synth.params)
    rows = spread_indices(len(ds.theta), args.items)  # the granular split is pair-major: not the first rows
    theta, seed = ds.theta[rows], ds.seed[rows]
    encoder.eval()
    with torch.no_grad():
        x = synth(theta, seed)
        theta_hat = encoder(x[..., : encoder.config.window])
    if args.fresh_seeds:
        seed = torch.randint(0, 2**31 - 1, seed.shape, generator=torch.Generator().manual_seed(1))
    g, d = path_theta_grads(loss, synth, theta_hat, x, seed, paths)
    rates = np.array([loss.jtfs.path_info(p, synth.sample_rate).rate_hz for p in paths])
    return {"g": g, "d": d, "paths": paths, "rates": rates, "theta": theta, "theta_hat": theta_hat,
            "n_fr": sorted(n_fr)}


def main(argv: list[str] | None = None) -> int:
    """CLI: per-path θ-gradients of CHECKPOINT's encoder on synthetic val items -> JSON + PNG."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--out", required=True, help="output folder")
    ap.add_argument("--items", type=int, default=4, help="synthetic val items, spread over the split (batch)")
    ap.add_argument("--n-fr", default="0,1,4,8,12,15,19",
                    help="frequential indices kept (all n2 each), or 'all'")
    ap.add_argument("--ks", default="1,4", help="paths per step to model, comma-separated")
    ap.add_argument("--fresh-seeds", action="store_true",
                    help="render θ̂ with fresh noise/grain seeds as training does (default: the target's)")
    ap.add_argument("--from-grads", type=Path,
                    help="analyse a saved path_theta_grads.pt of CHECKPOINT instead of recomputing")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import synths
    from scrapl_live.encoder.encoder import encoder_from_checkpoint
    from scrapl_live.train.evaluate import card_train_config

    encoder, card = encoder_from_checkpoint(args.checkpoint)
    cfg = card_train_config({**card, "synth": encoder.config.synth})
    synth = synths.get(cfg.synth, **cfg.synth_options)
    if args.from_grads is None:
        saved = _compute(args, encoder, cfg, synth)
    else:
        saved = torch.load(args.from_grads, weights_only=False)
    names = list(synth.param_names)
    ks = tuple(int(v) for v in args.ks.split(","))
    res = analyse(saved["g"], names, saved["rates"], ks=ks, error=saved["theta_hat"] - saved["theta"],
                  dists=saved.get("d"))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(res, names, saved["rates"], out / "path_theta_share.png")
    if args.from_grads is None:
        torch.save(saved, out / "path_theta_grads.pt")
    summary = {k: v for k, v in res.items() if k not in ("share", "theta_is_proxy")}
    summary.update(checkpoint=str(args.checkpoint), items=len(saved["theta"]), n_paths=len(saved["paths"]),
                   n_fr=saved.get("n_fr"))
    (out / "path_theta_share.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
