"""CLI: ``scrapl-live train``, ``scrapl-live eval`` and ``scrapl-live data hydrogen|drums``."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import fields

from scrapl_live.train.config import ADDED_FIELDS, LOSSES, SAMPLINGS, SIZES, SYNTHS, TrainConfig

_PAPER = "the synth's paper value"
# Help per TrainConfig field: what it does, then (after "|") the default shown when it is not the value.
_HELP = {
    "synth": "synth the encoder learns to drive",
    "loss": "training loss: SCRAPL, the full JTFS, a multi-scale spectral baseline or the parameter loss",
    "size": "encoder size: 'live' (small, real-time) or 'paper' (the paper's CNN)",
    "out_dir": "run folder: last.pt / best.pt checkpoints, train.csv / val.csv, curves.png"
    "|runs/SYNTH-LOSS-seedN-CONFIGHASH, one folder per config",
    "seed": "run seed: data order, synth seeds, dropout and SCRAPL's path draws are functions of "
    "(seed, step)",
    "batch_size": "global batch size|" + _PAPER,
    "lr": "base learning rate|" + _PAPER,
    "weight_decay": "decoupled weight decay of the optimiser (SGD with P-Adam/P-SAGA, else AdamW)",
    "lr_end_factor": "the LR falls linearly from lr to lr × this factor over --max-steps",
    "max_steps": "optimiser steps in total (raise it when resuming to extend a run: the LR keeps falling "
    "linearly from its current value)",
    "epoch_steps": "steps between validation/checkpoints|one pass over the data",
    "p_adam": "SCRAPL: path-wise Adam (P-Adam) on the encoder gradients (then the optimiser is SGD)",
    "p_saga": "SCRAPL: path-wise SAGA (P-SAGA) variance reduction of the encoder gradients",
    "theta_is": "SCRAPL: θ-importance-sampling warm-up (path probabilities from curvature) before step 0",
    "theta_is_batches": "θ-IS warm-up: training batches its curvature is measured on",
    "theta_is_iters": "θ-IS warm-up: power-iteration steps per path",
    "paths_per_step": "SCRAPL: distinct paths per step, sharing one scalogram (1 = the paper's; 4 learns the "
    "granular chirp slope far more reliably, docs/results.md)",
    "log1p_eps": "knee of the JTFS losses' ρ = log1p(S/eps) (tr808 with scrapl or jtfs)|1e-3, the paper's",
    "eval_paths": "SCRAPL in validation: the mean distance over this many fixed, evenly spread paths",
    "synthetic_items": "tr808: synthetic θ draws in the train split (val/test: a quarter each)",
    "sampling": "tr808: θ sampling of the synthetic items (log: log-uniform in the physical units)",
    "data": "folder of real one-shots mixed into training (tr808)|none",
    "real_per_batch": "items of each batch taken from --data (the rest synthetic)",
    "max_shift": "largest random delay of the real one-shots in training (samples)",
    "max_files": "use at most this many files of --data|all",
    "val_items": "validation items, spread evenly over the split (deterministic)",
    "dropout": "encoder dropout|the encoder preset's",
    "window": "encoder analysis window in samples|the encoder preset's",
    "windows": "comma-separated input lengths, e.g. 128,256,512,1024,2048,4096,8192: one encoder for every "
    "window of progressive prediction, trained on log-uniform random lengths between the first and last, "
    "validated at each (mean); the card lists them|one window",
    "init": "checkpoint (.pt) whose encoder weights initialise the run (warm start, fresh optimiser)|none",
    "ema_decay": "keep an exponential moving average of the encoder weights with this decay (e.g. 0.999): "
    "validation, best.pt and so export use the average (last.pt keeps the raw weights to resume); may be "
    "switched on when resuming a run that had none|off",
    "teacher": "distillation: checkpoint (.pt) of a frozen encoder (e.g. a full-hit one) whose θ̂ on each "
    "whole real one-shot is that item's target (with --loss ploss and --real-per-batch; the synthetic rows "
    "keep their true θ)|none",
}
_CHOICES = {"synth": SYNTHS, "loss": LOSSES, "size": SIZES, "sampling": SAMPLINGS}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    """One flag per TrainConfig field (booleans get --x / --no-x), each with its default in the help.

    Flags default to "not given" (argparse.SUPPRESS) so that :func:`config_from_args` can tell the flags
    given explicitly, which override a ``--config`` file, from the defaults, which do not.
    """
    defaults = TrainConfig()
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        text, _, shown = _HELP[f.name].partition("|")
        value = getattr(defaults, f.name)
        if f.name in ("synth", "loss"):
            shown = "required unless --config gives it"
        shown = shown or ({True: "on", False: "off"}.get(value) if isinstance(value, bool) else str(value))
        help_text = f"{text} (default: {shown})".replace("%", "%%")
        if isinstance(value, bool):
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                           dest=f.name, help=help_text)
            continue
        kind = {"int": int, "float": float, "str": str}[str(f.type).split(" | ")[0]]
        p.add_argument(flag, type=kind, default=argparse.SUPPRESS, dest=f.name, choices=_CHOICES.get(f.name),
                       help=help_text)


def read_config_file(path: str) -> dict:
    """The training config stored in ``path``: a checkpoint (.pt), a model card (.json beside an .onnx, or
    the .onnx itself) or a JSON config as ``TrainConfig.to_dict`` writes it.  ValueError when it has none."""
    import json
    from pathlib import Path

    file = Path(path)
    if file.suffix == ".pt":
        from scrapl_live.train.checkpoint import load_checkpoint

        ckpt = load_checkpoint(file)
        stored = ckpt.get("train_config") or (ckpt.get("card") or {}).get("training", {}).get("config")
    else:
        if file.suffix == ".onnx":
            file = file.with_suffix(".json")
        if not file.is_file():
            raise FileNotFoundError(f"--config file not found: {file}")
        try:
            data = json.loads(file.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"--config {file}: not a JSON file ({exc})") from None
        stored = data.get("training", {}).get("config") if isinstance(data.get("training"), dict) else data
    if not isinstance(stored, dict) or not stored:
        raise ValueError(f"--config {path}: holds no training config (need a checkpoint, model card or "
                         "config JSON)")
    return stored


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """TrainConfig of the ``train`` command: the ``--config`` file's config (if given; its ``out_dir`` is
    not replayed, so a replay never resumes or overwrites the original run), then every flag given
    explicitly on top; ``synth`` and ``loss`` must come from one of them."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig) if hasattr(args, f.name)}
    merged = given
    if args.config:
        replayed = TrainConfig.from_dict(read_config_file(args.config)).to_dict()
        replayed.pop("out_dir")
        merged = {**replayed, **given}
    missing = [name for name in ("synth", "loss") if name not in merged]
    if missing:
        raise ValueError(f"train needs {' and '.join('--' + m for m in missing)} (or --config FILE)")
    if "out_dir" not in merged:
        merged["out_dir"] = run_dir_for(TrainConfig(**merged))
    return TrainConfig(**merged)


def run_dir_for(cfg: TrainConfig) -> str:
    """``runs/<synth>-<loss>-seed<seed>-<hash>`` of the config: the same config resumes in the same folder,
    a different one gets its own (the hash leaves out what a resume may change: max_steps, ema_decay, and
    fields added since folders were named, at their default: ``ADDED_FIELDS``)."""
    import hashlib
    import json

    keyed = {k: v for k, v in cfg.to_dict().items() if k not in ("out_dir", "max_steps", "ema_decay")
             and not (k in ADDED_FIELDS and v == ADDED_FIELDS[k])}
    digest = hashlib.sha256(json.dumps(keyed, sort_keys=True, default=str).encode()).hexdigest()[:8]
    return f"runs/{cfg.synth}-{cfg.loss}-seed{cfg.seed}-{digest}"


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
    cfg = config_from_args(args)
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
    if torch.distributed.is_initialized():  # every rank done before any closes its connections
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()
    return 0


def _eval(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(args.threads)
    from pathlib import Path

    from scrapl_live.cli_checks import check_output_folder
    from scrapl_live.train.evaluate import evaluate_model, write_report

    stem = check_output_folder(args.out_dir, "--out-dir") / f"{Path(args.model).stem}.eval"

    report = evaluate_model(
        args.model,
        args.data,
        split=args.split,
        max_items=args.max_items,
        batch_size=args.batch_size,
        jtfs=args.jtfs,
    )
    json_path, md_path = write_report(report, stem)
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


def _drums(args: argparse.Namespace) -> int:
    from scrapl_live.train.drumdata import build_drums

    manifest = build_drums(args.dir, tuple(s.strip() for s in args.sources.split(",") if s.strip()),
                           args.screen)
    for split, counts in manifest["counts"].items():
        by_class = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
        print(f"{split}: {sum(counts.values())} one-shots ({by_class})")
    print(f"index: {args.dir}/manifest.json (train with --data {args.dir})")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``data`` sub-commands."""
    p = subparsers.add_parser("train", help="train a sound-matching encoder (SCRAPL or a baseline loss)")
    p.add_argument("--config", default=None, metavar="FILE",
                   help="replay the training config of a checkpoint (.pt), model card (.json/.onnx) or "
                   "config JSON; flags given explicitly override it (default: none)")
    _add_config_flags(p)
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                   help="device to train on (default: auto = cuda when available)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads per process (default: 1)")
    p.add_argument("--restart", action="store_true", help="ignore an existing last.pt in --out-dir")
    p.add_argument("--stop-at", type=int, default=None,
                   help="pause after this step, saving last.pt (resume later; default: run to --max-steps)")
    p.add_argument("--time-limit", type=float, default=None,
                   help="pause after the step that ends this many seconds into training (resume later; "
                   "default: none)")
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
    e.add_argument("--out-dir", default=".", help="folder of the reports MODEL.eval.json / MODEL.eval.md")
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
    r = dsub.add_parser(
        "drums", help="labelled drum one-shots from Debian packages, split by kit -> DIR/manifest.json"
    )
    r.add_argument("dir")
    r.add_argument("--sources", default="hydrogen,fluid,avldrums,lmms",
                   help="comma-separated: hydrogen, fluid, avldrums, lmms (recorded and sampled drums); "
                   "sonicpi (a sample library's drums and percussion), drumsynth (synthesised electronic "
                   "drums) and csound, timgm, opl3 (general-MIDI soundfonts' kits): build these into "
                   "folders of their own, so a real-drum corpus stays real (default: %(default)s)")
    r.add_argument("--screen", default=None, metavar="CORPUS",
                   help="leave out every one-shot that is a near-copy of one of CORPUS's (its "
                   "manifest.json), e.g. the real-drum corpus whose kits are held out (default: none)")
    r.set_defaults(func=_drums)
