"""Refinement-loss variants on the 12 held-out hits of bench_match (--per-kit 4): the shipped encoder's and
the full-hit teacher's θ̂ refined in one batch (teacher hits take noise seeds 12..23).

    python benchmarks/bench_refine_loss.py STEPS SPEC[@LR] ...   # SPEC: hit[+env=W][+res=aura|wide|mid][+sched=exp]
"""
import json, sys, time
from pathlib import Path
import numpy as np, torch
torch.set_num_threads(1)
from bench_match import held_out_hits, Metrics
import synths
from scrapl_live.refine import refine
from scrapl_live.train.evaluate import load_predictor
cache = Path("runs/_refine/theta0.npz")
x, names = held_out_hits("data/drums", 4)
b = x.shape[0]
if not cache.exists():
    th = {}
    for k, m in (("shipped", "models/tr808.onnx"), ("teacher", "runs/_refine/teacher.pt")):
        predict, _, window = load_predictor(m)
        with torch.no_grad():
            th[k] = predict(x[:, 0, :window]).float().clamp(0, 1).numpy()
    np.savez(cache, **th)
th = dict(np.load(cache))
synth = synths.get("tr808", pre_delay=0, max_shift=0)
metrics = Metrics(synth.n_samples, False)
steps = int(sys.argv[1])
for spec in sys.argv[2:]:
    loss, _, lr = spec.partition("@")
    lr = float(lr or 0.05)
    theta0 = np.concatenate([th["shipped"], th["teacher"]])
    xx = np.concatenate([x[:, 0].numpy()] * 2)
    res = refine(xx, theta0, steps=steps, lr=lr, loss=loss, device="cpu", progress=False)
    for i, k in enumerate(("shipped", "teacher")):
        with torch.no_grad():
            y = synth(torch.from_numpy(res.theta[i * b:(i + 1) * b]), torch.arange(b) + i * b)
        row = {"enc": k, "loss": spec, "steps": steps, **metrics(y, x), "s_per_hit": res.seconds / (2 * b)}
        print(json.dumps(row), flush=True)
        with open("runs/_refine/sweep.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
