"""Time of the default per-hit refinement of a 16-hit file against a pooled MR-STFT baseline, in the same run.

The file: 16 held-out real hits (test kits of a ``scrapl-live data drums`` corpus, spread over the kits)
laid 0.5 s apart, the last one ringing out for 1 s; each hit's θ̂ is the shipped encoder's on its first
window.  Ours: :func:`scrapl_live.refine.refine_file` with its defaults.  Baseline: the previous
default, reproduced here -- every hit rendered at the longest hit's length (1 s), the batch-pooled
auraloss MR-STFT as the loss, 30 Adam steps at lr 0.05.  Both print their seconds and the resulting
MR-STFT distance and decay loudness L1 over each hit's own span (quality must not be traded for time).
Also: one forward + backward of the loss on 16 hits of 0.5 s, ours (:class:`HitLoss`) against auraloss's
MR-STFT at its default resolutions.

    python benchmarks/bench_refine.py --threads 1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

SR = 44100
GAP = SR // 2


def sixteen_hit_file(root: str, n_hits: int) -> tuple[np.ndarray, list[int]]:
    """(T,) float32 file of ``n_hits`` held-out hits 0.5 s apart (peak 0.5 each) and their onsets."""
    from bench_match import held_out_hits

    x, _ = held_out_hits(root, -(-n_hits // 3))
    hits = x[:n_hits, 0].numpy()
    onsets = [GAP // 4 + i * GAP for i in range(n_hits)]
    audio = np.zeros(onsets[-1] + SR, np.float32)
    for onset, hit in zip(onsets, hits, strict=True):
        end = min(audio.size, onset + SR)
        audio[onset:end] += 0.5 * hit[: end - onset]
    return audio, onsets


def pooled_baseline(audio: np.ndarray, hits: list[tuple[int, np.ndarray]], steps: int = 30) -> np.ndarray:
    """Baseline refinement (auraloss MR-STFT pooled over the batch, 1-s renders, 30 steps) of ``hits``
    (onset, θ̂) -> refined θ (B, U)."""
    import auraloss

    import synths
    from scrapl_live.refine import EPS, hit_targets

    targets, lengths = hit_targets(audio, [h[0] for h in hits], SR)
    n = min(SR, -(-int(lengths.max()) // 2048) * 2048)
    synth = synths.get("tr808", n_samples=n, pre_delay=0, max_shift=0)
    z = torch.as_tensor(np.stack([h[1] for h in hits])).clamp(EPS, 1 - EPS).logit().requires_grad_(True)
    mask = (torch.arange(n).unsqueeze(0) < torch.as_tensor(lengths).unsqueeze(1)).float().unsqueeze(1)
    x = torch.as_tensor(targets[:, :n]).unsqueeze(1) * mask
    seeds = torch.arange(len(hits))
    mss = auraloss.freq.MultiResolutionSTFTLoss()
    opt = torch.optim.Adam([z], lr=0.05)
    for _ in range(steps):
        loss = mss(synth(torch.sigmoid(z), seeds) * mask, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return torch.sigmoid(z).detach().numpy()


def quality(audio: np.ndarray, onsets: list[int], theta: np.ndarray) -> dict[str, float]:
    """Mean per-hit MR-STFT and decay loudness L1 (dB) of the resynthesis over each hit's own span."""
    import auraloss

    import synths
    from scrapl_live.refine import hit_targets
    from scrapl_live.train.metrics import tr808_feature_l1

    targets, lengths = hit_targets(audio, onsets, SR)
    with torch.no_grad():
        y = synths.get("tr808", pre_delay=0, max_shift=0)(torch.from_numpy(theta), torch.arange(len(onsets)))
    y = y[:, 0].numpy() * (np.arange(SR)[None] < lengths[:, None])
    mss = auraloss.freq.MultiResolutionSTFTLoss()
    d = [float(mss(torch.from_numpy(y[i, None, None, :k]), torch.from_numpy(targets[i, None, None, :k])))
         for i, k in enumerate(lengths)]  # fmt: skip
    decay = [tr808_feature_l1(y[i, None, :k].astype(np.float64), targets[i, None, :k].astype(np.float64),
                              SR)["loudness_decay"] for i, k in enumerate(lengths)]  # fmt: skip
    return {"mr_stft": float(np.mean(d)), "loudness_decay": float(np.mean(decay))}


def loss_step_seconds(repeats: int = 5) -> tuple[float, float]:
    """Median seconds of one loss forward + backward on (16, 1, 22528) signals: HitLoss, auraloss."""
    import auraloss

    from scrapl_live.refine_loss import HitLoss

    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(2, 16, 1, 22528, generator=gen) * torch.exp(-torch.arange(22528) / 4000.0)
    y.requires_grad_(True)
    ours, peer = HitLoss(x), auraloss.freq.MultiResolutionSTFTLoss()
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for _ in range(repeats):
        for name, fn in (("ours", lambda: ours(y).sum()), ("peer", lambda: peer(y, x))):
            t0 = time.perf_counter()
            fn().backward()
            times[name].append(time.perf_counter() - t0)
    return float(np.median(times["ours"])), float(np.median(times["peer"]))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="data/drums", help="drum corpus (scrapl-live data drums)")
    p.add_argument("--model", default="models/tr808.onnx", help="encoder giving each hit's θ̂")
    p.add_argument("--hits", type=int, default=16)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    from scrapl_live.refine import DEFAULT_STEPS, refine_file
    from scrapl_live.train.evaluate import load_predictor

    torch.set_num_threads(args.threads)
    audio, onsets = sixteen_hit_file(args.data, args.hits)
    predict, _, window = load_predictor(args.model)
    with torch.no_grad():
        first = torch.from_numpy(np.stack([audio[o : o + window] for o in onsets]) / 0.5)
        theta0 = predict(first).float().clamp(0, 1).numpy()
    hits = list(zip(onsets, theta0, strict=True))
    rows = {"encoder": quality(audio, onsets, theta0)}
    t0 = time.perf_counter()
    theta_old = pooled_baseline(audio, hits)
    base = "pooled MR-STFT baseline (30 steps)"
    rows[base] = {**quality(audio, onsets, theta_old), "s": time.perf_counter() - t0}
    t0 = time.perf_counter()
    _, res = refine_file(audio, SR, hits, progress=False)
    seconds = time.perf_counter() - t0
    rows[f"default ({DEFAULT_STEPS} steps)"] = {**quality(audio, onsets, res.theta), "s": seconds}
    for name, row in rows.items():
        print(json.dumps({"row": name, **row}))
    old, new = rows[base]["s"], rows[f"default ({DEFAULT_STEPS} steps)"]["s"]
    print(f"{args.hits} hits: default {new:.1f} s, {base} {old:.1f} s, ratio {old / new:.2f}x")
    ours, peer = loss_step_seconds()
    print(f"loss forward + backward, 16 x 0.5 s: HitLoss {ours * 1e3:.0f} ms, "
          f"auraloss MR-STFT {peer * 1e3:.0f} ms, ratio {peer / ours:.2f}x")


if __name__ == "__main__":
    main()
