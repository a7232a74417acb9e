"""Benchmark: tr808 encoder accuracy against the analysis window (progressive prediction's schedule).

For each model (.onnx with its card, or a trainer checkpoint .pt) and each window W of the schedule
(128 … 8192 samples and the full hit), θ̂ is predicted from the hit's first W samples alone:

* θ L1 (‰) on synthetic test draws (the model's training config: split ``test``, θ known);
* on held-out real one-shots (default ``data/hydrogen/test``, the TR808EmulationKit): the MR-STFT
  distance (auraloss defaults) and the transient / decay loudness L1 (dB) between the hit and the
  resynthesis synth(θ̂), both 1 s, onset-aligned.

A model is measured at the windows it takes (its card's ``windows``, any length between them with
``any_window``); "full" is the whole 1 s hit for a model that takes it, else its longest window (what
it predicts once it has seen everything it can use).  The constant θ̂ = 0.5 row is the floor every
model must beat.  Prints a markdown table and writes a figure.

    python benchmarks/bench_windows.py runs/tr808-w2048/tr808.onnx models/tr808.onnx \
        runs/tr808-windows/best.pt [--items 512] [--figure docs/figures/tr808_windows.png]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scrapl_live.encoder.card import takes_length  # noqa: E402

WINDOWS = (128, 256, 512, 1024, 2048, 4096, 8192)
FULL = "full"


class Model:
    """A predictor audio (B, N) → θ̂ (B, U) plus the lengths it takes and its card."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if path.suffix == ".onnx":
            from scrapl_live.encoder.runtime import OnnxEncoder

            enc = OnnxEncoder(path)
            self.card, self.windows, self.any_window = enc.card, enc.windows, enc.any_window
            self._predict = lambda x: torch.from_numpy(enc(np.ascontiguousarray(x.numpy())))
        else:
            from scrapl_live.encoder.encoder import encoder_from_checkpoint

            encoder, self.card = encoder_from_checkpoint(path)
            self.windows, self.any_window = encoder.config.windows, encoder.config.multi_window
            self._predict = encoder

    def length_for(self, window: int | str, full: int) -> int | None:
        """Samples the model is given at schedule point ``window`` (None when it cannot take it)."""
        if window == FULL:
            return full if takes_length(self.windows, self.any_window, full) else self.windows[-1]
        return int(window) if takes_length(self.windows, self.any_window, int(window)) else None

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self._predict(x).float().clamp(0.0, 1.0)


def theta_l1(models: list[Model], points: list, items: int, batch: int) -> dict[tuple[str, Any], float]:
    """θ L1 ‰ per (model name, window) on synthetic test draws; ``("constant 0.5", None)`` too."""
    import synths
    from scrapl_live.train.data import synthetic_dataset
    from scrapl_live.train.evaluate import card_train_config, spread_indices
    from scrapl_live.train.metrics import theta_l1_permille

    cfg = card_train_config(models[0].card)
    synth = synths.get("tr808", **cfg.synth_options)
    ds = synthetic_dataset(cfg, "test", synth.params)
    idx = spread_indices(len(ds), items)
    sums: dict[tuple[str, Any], float] = {}
    for i in range(0, len(idx), batch):
        theta, seed = ds.theta[idx[i : i + batch]], ds.seed[idx[i : i + batch]]
        with torch.no_grad():
            x = synth(theta, seed)[:, 0]
        rows = {("constant 0.5", None): torch.full_like(theta, 0.5)}
        for m in models:
            for w in points:
                n = m.length_for(w, x.shape[-1])
                if n is not None:
                    rows[(m.path.as_posix(), w)] = m(x[:, :n])
        for key, theta_hat in rows.items():
            sums[key] = sums.get(key, 0.0) + float(theta_l1_permille(theta_hat, theta).mean()) * len(theta)
    return {k: v / len(idx) for k, v in sums.items()}


def real_hits(models: list[Model], points: list, data: Path) -> dict[tuple[str, Any], dict[str, float]]:
    """MR-STFT and loudness L1 per (model name, window) on the one-shots of ``data`` (resynthesised)."""
    import auraloss

    import synths
    from scrapl_live.train.datasets import OneShotFolderDataset
    from scrapl_live.train.evaluate import card_train_config
    from scrapl_live.train.metrics import tr808_feature_l1

    synth = synths.get("tr808", **card_train_config(models[0].card).synth_options)
    x = OneShotFolderDataset(data, synth.sample_rate, synth.n_samples, "all").audio  # (M, N)
    mrstft = auraloss.freq.MultiResolutionSTFTLoss()
    seeds = torch.arange(x.shape[0])
    thetas = {("constant 0.5", None): torch.full((x.shape[0], synth.n_params), 0.5)}
    for m in models:
        for w in points:
            n = m.length_for(w, x.shape[-1])
            if n is not None:
                thetas[(m.path.as_posix(), w)] = m(x[:, :n])
    out = {}
    for key, theta_hat in thetas.items():
        with torch.no_grad():
            x_hat = synth(theta_hat, seeds)[:, 0]
            dist = float(np.mean([float(mrstft(x_hat[i : i + 1, None], x[i : i + 1, None]))
                                  for i in range(x.shape[0])]))
        feats = tr808_feature_l1(x_hat.double().numpy(), x.double().numpy(), synth.sample_rate)
        out[key] = {"mrstft": dist, **{k: feats[k] for k in ("loudness_transient", "loudness_decay")}}
    return out


def plot(path: Path, models: list[Model], points: list, l1: dict, real: dict | None) -> None:
    """θ L1 (and the real-hit distances) against window, one line per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("θ L1 ‰ (synthetic test)", l1, None)]
    if real is not None:
        panels += [("MR-STFT (real test hits)", real, "mrstft"), ("decay loudness L1 dB (real)", real,
                                                                   "loudness_decay")]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
    axes = np.atleast_1d(axes)
    ticks = list(range(len(points)))
    for ax, (title, table, key) in zip(axes, panels, strict=True):
        for m in models:
            name = m.path.as_posix()
            xs = [i for i, w in enumerate(points) if (name, w) in table]
            ys = [table[(name, points[i])] if key is None else table[(name, points[i])][key] for i in xs]
            span = f"any W in {m.windows[0]}–{m.windows[-1]}" if m.any_window else f"W={list(m.windows)}"
            ax.plot(xs, ys, "o-", label=f"{name} ({span})")
        const = table[("constant 0.5", None)]
        ax.axhline(const if key is None else const[key], color="grey", ls="--", label="constant θ̂ = 0.5")
        ax.set_xticks(ticks, [str(w) for w in points])
        ax.set_xlabel("window (samples after the onset at 44.1 kHz)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+", type=Path, help="encoders (.onnx with card, or trainer .pt)")
    ap.add_argument("--items", type=int, default=512, help="synthetic test draws")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--data", type=Path, default=Path("data/hydrogen/test"),
                    help="held-out real one-shots ('none' to skip)")
    ap.add_argument("--figure", type=Path, default=None, help="write the figure here (PNG)")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(args.threads)
    models = [Model(p) for p in args.models]
    points = [*WINDOWS, FULL]
    l1 = theta_l1(models, points, args.items, args.batch)
    real = real_hits(models, points, args.data) if args.data.as_posix() != "none" else None
    print(f"\nθ̂ from the first W samples alone; θ L1 ‰ on {args.items} synthetic test draws"
          + (f", MR-STFT / decay loudness L1 dB on {args.data}" if real else "") + "\n")
    print("| model | " + " | ".join(f"W={w}" for w in points) + " |")
    print("|---|" + "---|" * len(points))
    for m in models:
        name = m.path.as_posix()
        cells = []
        for w in points:
            key = (name, w)
            if key not in l1:
                cells.append("–")
                continue
            cell = f"{l1[key]:.1f}"
            if real:
                cell += f" / {real[key]['mrstft']:.2f} / {real[key]['loudness_decay']:.1f}"
            cells.append(cell)
        print(f"| {name} | " + " | ".join(cells) + " |")
    const = l1[("constant 0.5", None)]
    extra = (f" / {real[('constant 0.5', None)]['mrstft']:.2f} / "
             f"{real[('constant 0.5', None)]['loudness_decay']:.1f}") if real else ""
    print(f"| constant θ̂ = 0.5 | {const:.1f}{extra} (every window) |" + " |" * (len(points) - 1))
    if args.figure is not None:
        plot(args.figure, models, points, l1, real)
        print(f"\nwrote {args.figure}")


if __name__ == "__main__":
    main()
