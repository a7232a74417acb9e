"""Does an encoder's θ̂ follow θ at all, or only with too little spread? Per parameter on synthetic
test items: the correlation of θ̂ with θ, the spread (std) of θ̂ against θ's, and for parameters
centred on 0.5 (e.g. the granular chirp slope, whose sign flips there) how often the sides agree.

    python experiments/theta_spread.py runs/g6k-scrapl-seed1/last.pt runs/g6k-scrapl-seed2/last.pt
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

import synths
from scrapl_live.train.evaluate import card_train_config, eval_batches, load_predictor


def predictions(model: str, items: int, batch: int = 16) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(θ, θ̂, parameter names) on ``items`` test items spread over the synthetic test split."""
    predict, card, window = load_predictor(model)
    cfg = card_train_config(card)
    synth = synths.get(cfg.synth, **cfg.synth_options)
    theta, theta_hat = [], []
    for x, th in eval_batches(cfg, synth, "synthetic", "test", items, batch):
        with torch.no_grad():
            theta_hat.append(predict(x[:, 0, :window]))
        theta.append(th)
    return torch.cat(theta).numpy(), torch.cat(theta_hat).numpy(), list(synth.param_names)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("models", nargs="+", help=".pt checkpoints or .onnx models with cards")
    ap.add_argument("--items", type=int, default=128, help="test items, spread over the split")
    args = ap.parse_args()
    print("| model | parameter | corr(θ̂, θ) | std θ̂ / std θ | sides agree (θ vs 0.5) |")
    print("|---|---|---|---|---|")
    for model in args.models:
        theta, theta_hat, names = predictions(model, args.items)
        for u, name in enumerate(names):
            t, h = theta[:, u], theta_hat[:, u]
            corr = np.corrcoef(t, h)[0, 1]
            sides = np.mean(np.sign(t - 0.5) == np.sign(h - 0.5))
            print(f"| {model} | {name} | {corr:+.3f} | {h.std():.3f} / {t.std():.3f} | {sides:.2f} |")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
