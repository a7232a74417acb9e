"""Background fine-tuning benchmark: worker steps/minute, and live-engine xruns while the worker trains.

    python benchmarks/bench_finetune.py [--seconds 120] [--model models/tr808.onnx] [--batch-size 4]

Both JACK runs use one server of their own (``bench_live.jack_server``: ``jackd -n scrapl-bench-ID -R -d
dummy -r 48000 -p 256``; real-time scheduling, as on a music machine, and its own name so that other JACK
servers are left alone).

0. Baseline (peer, same run): the JACK run of step 2 below without the worker.
1. Fine-tune steps per minute of the worker process alone (CPU: SCHED_IDLE, 1 torch thread; GPU when
   torch sees one), from its status.json after ``--seconds``; the store holds Hydrogen training-kit
   kicks (``data/hydrogen/train``) when present, else tr808 renders.
2. The live engine on the JACK dummy server (48 kHz, 256 frames) for ``--seconds`` with 8 hits/s played
   into it (``bench_live.bench_jack``: xruns of the engine's stream vs the trivial player's, the peer),
   while the supervised worker keeps training on the same CPU cores; then the worker's steps/minute
   during that run.
3. The held-out distance history of the whole run (starting model first).

    python benchmarks/bench_finetune.py --ckpt-steps 40

Checkpoint size instead: a foreground float32-table worker runs ``--ckpt-steps`` steps, then the size of
its ``ckpt/last.pt`` (compact path tables: visited rows only) is printed next to the same state with
full P-row tables (the format before) and with the visited rows in bfloat16 (``--table-dtype bfloat16``).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from bench_live import _model, bench_jack, jack_server  # noqa: E402

from scrapl_live.finetune.config import FinetuneConfig  # noqa: E402
from scrapl_live.finetune.status import read_status  # noqa: E402
from scrapl_live.finetune.supervisor import Supervisor  # noqa: E402
from tests.finetune.helpers import fill_store, user_sounds  # noqa: E402


def _wait_training(out: Path, timeout_s: float = 900.0) -> dict:
    """Wait until the worker reports its first step; returns that status."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            st = read_status(out)
            if st["state"] == "training":
                return st
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(1.0)
    raise RuntimeError(f"the fine-tune worker did not start training within {timeout_s:.0f} s")


def _steps_over(sup: Supervisor, out: Path, seconds: float, during=None) -> tuple[float, int]:  # noqa: ANN001
    """(steps per minute, steps) of the running worker over ``seconds`` (or over ``during()``)."""
    s0, t0 = read_status(out)["step"], time.monotonic()
    if during is None:
        time.sleep(seconds)
    else:
        during()
    s1, t1 = read_status(out)["step"], time.monotonic()
    if sup.crashes:
        raise RuntimeError(f"the worker crashed: {sup.crashes}")
    return 60.0 * (s1 - s0) / (t1 - t0), s1 - s0


def _size_mb(obj: object) -> float:
    import io

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getbuffer().nbytes / 1e6


def bench_checkpoint(model: Path, store: Path, out: Path, steps: int, batch_size: int) -> None:
    """Checkpoint MB after ``steps`` steps: compact float32 tables vs full tables vs compact bfloat16."""
    from scrapl_live.finetune.worker import FinetuneWorker

    cfg = FinetuneConfig(model=str(model), store=str(store), out_dir=str(out), batch_size=batch_size,
                         max_steps=steps, eval_every=steps, ckpt_every=steps, nice=0, table_dtype="float32")
    worker = FinetuneWorker(cfg)
    t0 = time.perf_counter()
    worker.run()
    minutes = (time.perf_counter() - t0) / 60
    ckpt = worker.state()
    loss_state = ckpt["loss_state"]
    tables = [k for k in loss_state if k.startswith("pathwise.table_rows_")]
    visited = sorted({r for k in tables for r in loss_state[k].tolist()})
    full = {k: v for k, v in loss_state.items() if k not in tables}
    full.update({f"pathwise.{n}": b for n, b in worker.loss.pathwise.named_buffers()})
    is_table = [k for k in loss_state if k.split(".")[-1].startswith(("adam_m_", "adam_v_", "saga_mem_"))]
    half = {k: v.bfloat16() if k in is_table else v for k, v in loss_state.items()}
    disk = (out / "ckpt" / "last.pt").stat().st_size / 1e6
    print(f"{steps} steps in {minutes:.1f} min; {len(visited)} of {worker.loss.n_paths} paths visited; "
          f"path tables in memory {worker.loss.pathwise.table_bytes() / 1e6:.0f} MB (float32)")
    print(f"checkpoint ckpt/last.pt: {disk:.1f} MB (compact float32 tables; same state in memory "
          f"{_size_mb(ckpt):.1f} MB)")
    print(f"  same state with full P-row tables (the format before): "
          f"{_size_mb({**ckpt, 'loss_state': full}):.1f} MB")
    print(f"  compact bfloat16 tables (--table-dtype bfloat16): "
          f"{_size_mb({**ckpt, 'loss_state': half}):.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=120.0, help="length of each measurement")
    ap.add_argument("--model", default=None, help="start model (default models/tr808.onnx, else untrained)")
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--samples", type=int, default=16, help="user sounds in the store")
    ap.add_argument("--eval-every", type=int, default=10, help="steps between held-out evaluations")
    ap.add_argument("--no-baseline", action="store_true", help="skip the JACK run without the worker")
    ap.add_argument("--ckpt-steps", type=int, default=0,
                    help="> 0: measure the checkpoint size after this many steps instead")
    args = ap.parse_args()
    torch.set_num_threads(1)
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; torch CUDA: {torch.cuda.is_available()}")
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = _model(args.model, tmp)
        sounds, source = user_sounds(args.samples, hydrogen=True)
        fill_store(tmp / "store", sounds)
        out = tmp / "ft"
        cfg = FinetuneConfig(model=str(model), store=str(tmp / "store"), out_dir=str(out),
                             batch_size=args.batch_size, eval_every=args.eval_every, ckpt_every=50)
        print(f"model {model}; {len(sounds)} user sounds ({source}); batch {args.batch_size}")
        if args.ckpt_steps > 0:
            bench_checkpoint(model, tmp / "store", out, args.ckpt_steps, args.batch_size)
            return
        with jack_server(use_running=False) as (server, _):
            if not server:
                raise RuntimeError("no JACK server of our own could be started (jackd -R)")
            print(f"JACK: {server}")
            run_with_worker(args, model, cfg, out, tmp)


def run_with_worker(args: argparse.Namespace, model: Path, cfg: FinetuneConfig, out: Path, tmp: Path) -> None:
    """Steps 0-3 of the module docstring on the running JACK server."""
    def jack_run() -> None:  # on the server main started (JACK_DEFAULT_SERVER)
        bench_jack(model, args.seconds, 8.0, tmp, use_running=True)

    if not args.no_baseline:
        print("\n[0] baseline: the same JACK run without the worker")
        jack_run()
    sup = Supervisor(cfg).start()
    try:
        st = _wait_training(out)
        print(f"worker on {st['device']}: {st['samples']['train']} train / "
              f"{st['samples']['heldout']} held-out samples")
        rate, n = _steps_over(sup, out, args.seconds)
        print(f"\n[1] worker alone: {rate:.2f} fine-tune steps/min ({n} steps in {args.seconds:.0f} s)")
        rate, n = _steps_over(sup, out, args.seconds, jack_run)
        print(f"\n[2] worker during the JACK run: {rate:.2f} steps/min ({n} steps)")
        hist = read_status(out)["history"]
        print(f"\n[3] held-out distance (SCRAPL eval, {cfg.eval_paths} fixed paths) by step: "
              + ", ".join(f"{r['step']}: {r['heldout_distance']:.4f}{'*' if r['exported'] else ''}"
                          for r in hist) + "  (* exported)")
    finally:
        sup.stop()


if __name__ == "__main__":
    main()
