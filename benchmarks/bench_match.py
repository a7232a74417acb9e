"""How closely the TR-808 resynthesis matches held-out real drum hits: encoders, refinement, search limit.

Hits: the test kits of a ``scrapl-live data drums`` corpus (never trained on; ``--split val`` takes
the validation kit instead, the one that chooses between models), up to ``--per-kit`` spread evenly
over each kit, onset-aligned and peak-normalised as in training (1 s at 44.1 kHz).  Rows: a constant
θ̂ = 0.5; each encoder given (``.onnx`` or ``.pt``); each + per-hit refinement
(:mod:`scrapl_live.refine`, ``--steps``; ``--no-refine`` skips it); refinement from scratch
(``--starts`` random starts, no encoder).  Columns: MR-STFT distance (auraloss defaults), MSS
log+lin, the full JTFS distance (tr808 483-path preset, log1p), transient and decay loudness L1 (dB),
seconds per hit (prediction and search).

    python benchmarks/bench_match.py models/tr808.onnx runs/RUN/best.pt --data data/drums \\
        --out docs/figures/match   # writes match.json, match.md and match.png
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def held_out_hits(root: str, per_kit: int, split: str = "test") -> tuple[torch.Tensor, list[str]]:
    """(B, 1, N) hits of the corpus at ``root``'s ``split`` kits and each hit's "kit/file" name."""
    from scrapl_live.train.datasets import OneShotFolderDataset
    from scrapl_live.train.evaluate import spread_indices

    ds = OneShotFolderDataset(root, 44100, 44100, split)
    kits: dict[str, list[int]] = {}
    for i, f in enumerate(ds.files):
        kits.setdefault(f.parent.name, []).append(i)
    keep = []
    for kit in sorted(kits):
        idx = sorted(kits[kit], key=lambda i: ds.files[i].name)
        keep += [idx[int(j)] for j in spread_indices(len(idx), per_kit)]
    return ds.audio[keep].unsqueeze(1), [f"{ds.files[i].parent.name}/{ds.files[i].name}" for i in keep]


class Metrics:
    """Every distance of one resynthesis batch against the hits (means over hits)."""

    def __init__(self, n_samples: int, jtfs: bool) -> None:
        import auraloss

        from scrapl_live.loss.baselines import make_loss
        from scrapl_live.train.config import TrainConfig

        self.mr_stft = auraloss.freq.MultiResolutionSTFTLoss()
        self.mss = make_loss("mss-loglin")
        preset = TrainConfig(synth="tr808").jtfs_distance_settings
        self.jtfs = make_loss("jtfs", shape=n_samples, **preset) if jtfs else None

    def __call__(self, y: torch.Tensor, x: torch.Tensor) -> dict[str, float]:
        from scrapl_live.train.metrics import tr808_feature_l1

        with torch.no_grad():
            out = {"mr_stft": float(self.mr_stft(y, x)), "mss_loglin": float(self.mss(y, x))}
            if self.jtfs is not None:
                per_hit = [float(self.jtfs(y[i : i + 1], x[i : i + 1])) for i in range(len(y))]
                out["jtfs"] = float(np.mean(per_hit))
        feats = tr808_feature_l1(y[:, 0].double().numpy(), x[:, 0].double().numpy(), 44100)
        out.update({k: feats[k] for k in ("loudness_transient", "loudness_decay")})
        return out


def run(args: argparse.Namespace) -> dict:
    import synths
    from scrapl_live.refine import refine
    from scrapl_live.train.evaluate import load_predictor

    torch.set_num_threads(args.threads)
    x, names = held_out_hits(args.data, args.per_kit, args.split)
    b = x.shape[0]
    synth = synths.get("tr808", pre_delay=0, max_shift=0)
    seeds = torch.arange(b)  # the noise seeds refine() renders with (seed 0)
    metrics = Metrics(synth.n_samples, args.jtfs)
    rows, renders = [], {}

    def record(name: str, theta: np.ndarray, seconds: float) -> None:
        with torch.no_grad():
            y = synth(torch.from_numpy(np.asarray(theta, np.float32)), seeds)
        rows.append({"row": name, **metrics(y, x), "s_per_hit": seconds / b})
        renders[name] = y[:, 0].numpy()
        print(json.dumps(rows[-1]), flush=True)

    record("constant θ̂ = 0.5", np.full((b, synth.n_params), 0.5, np.float32), 0.0)
    for model in args.models:
        predict, _, window = load_predictor(model)
        t0 = time.perf_counter()
        with torch.no_grad():
            theta = predict(x[:, 0, :window]).float().clamp(0, 1).numpy()
        t_enc = time.perf_counter() - t0
        record(model, theta, t_enc)
        if not args.refine:
            continue
        res = refine(x[:, 0].numpy(), theta, steps=args.steps, device="cpu", progress=False)
        record(f"{model} + refine {args.steps}", res.theta, t_enc + res.seconds)
    if args.starts:
        res = refine(x[:, 0].numpy(), None, steps=args.steps, starts=args.starts, device="cpu",
                     progress=False)
        record(f"refine {args.steps} from scratch ({args.starts} starts)", res.theta, res.seconds)
    return {"hits": names, "rows": rows, "renders": renders, "x": x[:, 0].numpy()}


def write(report: dict, args: argparse.Namespace) -> None:
    from scrapl_live.plots import log_spectrogram

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    keys = [k for k in ("mr_stft", "mss_loglin", "jtfs", "loudness_transient", "loudness_decay", "s_per_hit")
            if k in report["rows"][0]]  # fmt: skip
    lines = ["| row | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    lines += [f"| {r['row']} | " + " | ".join(f"{r[k]:.3g}" for k in keys) + " |" for r in report["rows"]]
    md = "\n".join(lines)
    out.with_suffix(".md").write_text(md + "\n")
    record = {"args": vars(args), "hits": report["hits"], "rows": report["rows"]}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r["row"] for r in report["rows"]][1:3]  # first encoder, and it refined
    picks = np.linspace(0, len(report["hits"]) - 1, min(3, len(report["hits"]))).round().astype(int)
    fig, axes = plt.subplots(len(picks), 1 + len(shown), figsize=(4 * (1 + len(shown)), 2.6 * len(picks)),
                             squeeze=False)  # fmt: skip
    for r, i in enumerate(picks):
        n = 22050
        log_spectrogram(axes[r, 0], report["x"][i, :n], 44100)
        axes[r, 0].set_title(f"input {report['hits'][i]}", fontsize=8)
        for c, name in enumerate(shown, 1):
            log_spectrogram(axes[r, c], report["renders"][name][i, :n], 44100)
            axes[r, c].set_title(Path(name).name, fontsize=8)
    fig.tight_layout()
    fig.savefig(out.with_suffix(".png"), dpi=90)
    print(md)


def main() -> None:
    from scrapl_live.refine import DEFAULT_STEPS

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="encoders (.onnx or .pt)")
    p.add_argument("--data", default="data/drums", help="drum corpus (scrapl-live data drums)")
    p.add_argument("--split", choices=("test", "val"), default="test",
                   help="kits the hits come from (val: the kit that chooses between models)")
    p.add_argument("--per-kit", type=int, default=8, help="hits per kit")
    p.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                   help="each encoder + per-hit refinement")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help="refinement steps (default: refine's)")
    p.add_argument("--starts", type=int, default=4, help="random starts of the from-scratch search (0: skip)")
    p.add_argument("--jtfs", action=argparse.BooleanOptionalAction, default=True, help="full JTFS distance")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="runs/bench_match/match")
    args = p.parse_args()
    write(run(args), args)


if __name__ == "__main__":
    main()
