"""CLI: ``scrapl-live train``, ``scrapl-live eval`` and ``scrapl-live data hydrogen``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import fields

from scrapl_live.train.config import LOSSES, SYNTHS, TrainConfig

_HELP = {
    "batch_size": "global batch size (default: paper value of the synth)",
    "lr": "base learning rate (default: paper value of the synth)",
    "max_steps": "optimiser steps in total (raise it when resuming to extend a run: the LR keeps falling "
    "linearly from its current value)",
    "epoch_steps": "steps between validation/checkpoints (default: one pass over the data)",
    "data": "folder of real one-shots mixed into training (tr808)",
    "real_per_batch": "items of each batch taken from --data",
    "theta_grad_norm": "rescale ∂L/∂θ̂ per synth parameter to an equal running RMS (audio losses)",
    "log1p_eps": "knee of the JTFS losses' ρ = log1p(S/eps) (tr808; default 1e-3, the paper's)",
    "vote_is": "path probabilities from descent votes on known θ (warm-up; scrapl loss, not with --theta-is)",
    "vote_is_items": "synthetic training items of the descent-vote warm-up (~4 s per item on one core)",
    "init": "checkpoint (.pt) whose encoder weights initialise the run (warm start, fresh optimiser)",
    "paths_per_step": "SCRAPL: distinct paths per step, sharing one scalogram (1 = the paper's; granular: "
    "4 learns the chirp slope far more reliably, docs/results.md session 11)",
    "ema_decay": "keep an exponential moving average of the encoder weights with this decay (e.g. 0.999): "
    "validation, best.pt and so export use the average (last.pt keeps the raw weights to resume); may be "
    "switched on when resuming a run that had none",
    "balance_paths": "SCRAPL with --paths-per-step > 1: weight each path's distance by 1/itself (detached, "
    "value unchanged) so that the quiet paths are not drowned by the loudest in the shared step (off: on "
    "granular it kept the chirp slope at chance, docs/results.md session 12)",
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (booleans get --x / --no-x)."""
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        if f.name in ("synth", "loss"):
            continue
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=value, dest=f.name,
                           help=_HELP.get(f.name))
            continue
        kind = {"int": int, "float": float, "str": str}[str(f.type).split(" | ")[0]]
        p.add_argument(flag, type=kind, default=value, dest=f.name, help=_HELP.get(f.name))


def _init_distributed(device: str) -> str:
    """Join the torchrun process group when WORLD_SIZE > 1; returns the device for this rank."""
    import torch

    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        backend = "nccl" if device.startswith("cuda") else "gloo"
        torch.distributed.init_process_group(backend)
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def _train(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    cfg = TrainConfig(**{f.name: getattr(args, f.name) for f in fields(TrainConfig)})
    device = _init_distributed(args.device)
    from scrapl_live.train.trainer import Trainer

    command = shlex.join(["scrapl-live", *sys.argv[1:]])
    trainer = Trainer(cfg, command=command, device=device)
    best = trainer.fit(resume=not args.restart, stop_at=args.stop_at, time_limit=args.time_limit)
    if trainer.rank == 0:
        print(f"step {trainer.step}; best validation: {best}")
        print(
            f"checkpoints in {cfg.out_dir} (export: scrapl-live export {cfg.out_dir}/best.pt -o MODEL.onnx)"
        )
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    from scrapl_live.train.evaluate import evaluate_model, write_report

    report = evaluate_model(
        args.model,
        args.data,
        split=args.split,
        max_items=args.max_items,
        batch_size=args.batch_size,
        jtfs=args.jtfs,
    )
    json_path, md_path = write_report(report, args.out)
    print(md_path.read_text())
    print(f"wrote {json_path} and {md_path}")
    if args.update_card:
        if not str(args.model).endswith(".onnx"):
            raise ValueError(f"--update-card needs an .onnx model with its card, got model={args.model}")
        from scrapl_live.train.evaluate import add_to_card

        print(f"recorded the evaluation in {add_to_card(report, args.model)}")
    return 0


def _hydrogen(args: argparse.Namespace) -> int:
    from scrapl_live.train.hydrogen import extract_hydrogen

    manifest = extract_hydrogen(args.dir)
    print(
        f"{manifest['n_train']} training one-shots in {args.dir}/train, {manifest['n_test']} test one-shots "
        f"({', '.join(manifest['test_kits'])}) in {args.dir}/test"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``data`` sub-commands."""
    p = subparsers.add_parser("train", help="train a sound-matching encoder (SCRAPL or a baseline loss)")
    p.add_argument("--synth", choices=SYNTHS, required=True)
    p.add_argument("--loss", choices=LOSSES, required=True)
    _add_config_flags(p)
    p.add_argument("--device", default="auto", help="cpu | cuda | auto")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process")
    p.add_argument("--restart", action="store_true", help="ignore an existing last.pt in --out-dir")
    p.add_argument("--stop-at", type=int, default=None, help="pause after this step (resume later)")
    p.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="pause after the step that ends this many seconds into training (resume later)",
    )
    p.set_defaults(func=_train)

    e = subparsers.add_parser("eval", help="evaluate a checkpoint or .onnx model (JSON + markdown table)")
    e.add_argument("model", help="training checkpoint (.pt) or exported model (.onnx)")
    e.add_argument(
        "--data", default="synthetic", help="'synthetic' (the synth's test split) or a folder of one-shots"
    )
    e.add_argument("--split", default="test", choices=("train", "val", "test", "all"))
    e.add_argument("--max-items", type=int, default=256)
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--jtfs", action=argparse.BooleanOptionalAction, default=True, help="full-JTFS distance")
    e.add_argument("--out", default=None, help="output stem (default: beside the model, <stem>.eval)")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--update-card", action="store_true", help="record the results in the .onnx model's card")
    e.set_defaults(func=_eval)

    d = subparsers.add_parser("data", help="build training corpora")
    dsub = d.add_subparsers(dest="data_command", metavar="CORPUS", required=True)
    h = dsub.add_parser(
        "hydrogen", help="Debian's Hydrogen drum kits -> DIR/train, DIR/test (TR808EmulationKit)"
    )
    h.add_argument("dir")
    h.set_defaults(func=_hydrogen)
