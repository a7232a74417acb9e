"""Fine-tune sub-commands: ``scrapl-live finetune add | run | status``.

``add FILES... --store DIR [--model PATH]`` fills the capture store; ``run --store DIR [--model M]
--out-dir O`` checks the model and the store, then fine-tunes in a supervised background process
(restarted on crash, given up after repeated identical failures) until Ctrl-C or ``--steps``;
``status --out-dir O [--png P]`` prints samples, steps, the held-out curve and the current model.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``finetune`` command group to the ``scrapl-live`` parser."""
    ft = subparsers.add_parser("finetune", help="capture store for fine-tuning on your own sounds")
    sub = ft.add_subparsers(dest="finetune_command", metavar="ACTION")
    ft.set_defaults(func=lambda _args: _usage(ft))

    p = sub.add_parser(
        "add", help="add every hit (or window) of audio files to a capture store",
        description="Cuts each file into hits (onset detector; each from its onset for the synth's "
        "output length, cut at the next onset) or back-to-back segments, predicts θ̂ from each one's "
        "first W samples with --model when given, and stores it with its metadata. A file in which no "
        "onset is found (a one-shot whose attack is its first sample) is one hit from its start. Silence "
        "and exact duplicates are skipped; writes are atomic. Every file is processed and reported on "
        "its own line. Exit status 1 when a file could not be read, or when no file gave anything to "
        "store (all silent); re-adding files already in the store is not a failure.",
    )
    p.add_argument("files", nargs="+", type=Path, help="audio files (WAV/FLAC/MP3/OGG)")
    p.add_argument("--store", type=Path, required=True, help="capture store folder (created if missing)")
    p.add_argument("--model", type=Path, default=None, help="ONNX encoder for θ̂ (sets rate and window)")
    p.add_argument("--mode", choices=("hits", "windows"), default="hits", help="what to cut")
    p.add_argument("--sample-rate", type=int, default=44100, help="rate without --model (Hz)")
    p.add_argument("--length-s", type=float, default=1.0,
                   help="stored length of each hit/segment without --model (s); with it, the synth's length")
    p.add_argument("--window-s", type=float, default=2048 / 44100,
                   help="encoder window for θ̂ without --model (s; only recorded in the metadata)")
    p.add_argument("--max-mb", type=float, default=1024.0, help="store size cap in MB (0: no cap)")
    p.add_argument("--policy", choices=("drop-oldest", "refuse"), default="drop-oldest",
                   help="what to do when the cap is reached")
    p.set_defaults(func=_add)

    r = sub.add_parser(
        "run", help="fine-tune the encoder on the capture store with SCRAPL (background worker)",
        description="Trains the model on the store's samples with SCRAPL + P-Adam/P-SAGA in a separate, "
        "low-priority process (restarted with backoff if it crashes), evaluates a held-out part of the "
        "samples and exports OUT/model.onnx + card whenever the held-out distance improves. Stopping and "
        "running again resumes from OUT/ckpt/last.pt.",
    )
    r.add_argument("--model", type=Path, default=None,
                   help="start model (.onnx with its card, or .pt; default: the shipped model of the synth "
                   "the store was captured for)")
    r.add_argument("--store", type=Path, required=True, help="capture store folder")
    _out_dir_arg(r, "output folder (model.onnx, checkpoints, status.json)")
    r.add_argument("--steps", type=int, default=None, help="stop after this many steps in total")
    r.add_argument("--batch-size", type=int, default=4, help="samples per step")
    r.add_argument("--lr", type=float, default=1e-4, help="learning rate")
    r.add_argument("--eval-every", type=int, default=25, help="steps between held-out evaluations")
    r.add_argument("--ckpt-every", type=int, default=25, help="steps between checkpoints")
    r.add_argument("--eval-paths", type=int, default=16, help="fixed JTFS paths of the held-out metric")
    r.add_argument("--holdout", type=float, default=0.25, help="held-out fraction of the samples")
    r.add_argument("--theta-is", action="store_true", help="θ-IS warm-up on the user's samples first")
    r.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto", help="where to train")
    r.add_argument("--threads", type=int, default=1, help="torch threads on CPU")
    r.add_argument("--nice", type=int, default=19,
                   help="> 0: on CPU, SCHED_IDLE on Linux, else this niceness increment")
    r.add_argument("--table-dtype", choices=("bfloat16", "float32"), default="bfloat16",
                   help="P-Adam/P-SAGA path tables in memory and checkpoints (bfloat16: half the size)")
    r.add_argument("--foreground", action="store_true", help="train in this process (no supervisor)")
    r.set_defaults(func=_run)

    st = sub.add_parser("status", help="fine-tune progress: samples, steps, held-out curve, model")
    _out_dir_arg(st, "the run's output folder")
    st.add_argument("--png", type=Path, default=None, help="also write the held-out curve as a PNG")
    st.set_defaults(func=_status)


def _out_dir_arg(p: argparse.ArgumentParser, text: str) -> None:
    p.add_argument("--out-dir", type=Path, default=Path("runs/finetune"), help=text)
    p.add_argument("--out", type=Path, dest="out_dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _add(args: argparse.Namespace) -> int:
    from scrapl_live.finetune.capture import capture_files
    from scrapl_live.finetune.store import CaptureStore

    if args.max_mb < 0:
        raise ValueError(f"--max-mb must be >= 0, got {args.max_mb}")
    for name in ("length_s", "window_s"):
        if getattr(args, name) <= 0:
            raise ValueError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    store = CaptureStore(args.store, max_bytes=int(args.max_mb * 1e6) or None, policy=args.policy)
    encoder = None
    if args.model is not None:
        from scrapl_live.cli_checks import check_model_file
        from scrapl_live.encoder.runtime import OnnxEncoder

        encoder = OnnxEncoder(check_model_file(args.model))
    report = capture_files(store, args.files, encoder, args.mode, args.sample_rate,
                           int(round(args.window_s * args.sample_rate)),
                           int(round(args.length_s * args.sample_rate)), progress=True)
    for entry in report.files:
        print(entry.summary())
    stats = store.stats()
    bad = [e for e in report.files if e.error is not None]
    print(f"{len(report.files)} file(s): {report.windows} {args.mode} found, {len(report.stored)} stored, "
          f"{report.skipped} skipped, {len(bad)} unreadable; store {args.store}: {stats.count} samples, "
          f"{stats.bytes / 1e6:.1f} MB")
    if bad or not any(e.usable for e in report.files):
        return 1
    return 0


def finetune_config(args: argparse.Namespace) -> object:
    """The :class:`~scrapl_live.finetune.config.FinetuneConfig` of ``finetune run``'s flags."""
    from scrapl_live.finetune.config import FinetuneConfig

    return FinetuneConfig(model=str(args.model), store=str(args.store), out_dir=str(args.out_dir),
                          max_steps=args.steps, batch_size=args.batch_size, lr=args.lr,
                          eval_every=args.eval_every, ckpt_every=args.ckpt_every, eval_paths=args.eval_paths,
                          holdout_frac=args.holdout, theta_is=args.theta_is, device=args.device,
                          threads=args.threads, nice=args.nice, table_dtype=args.table_dtype)


def check_start_model(model: Path) -> str:
    """Load ``--model`` as the worker will (ONNX reversed to torch, or a .pt); return its synth name."""
    from scrapl_live.finetune.persist import load_start_encoder

    if model.is_dir():
        raise ValueError(f"--model {model} is a folder: pass the model file (.onnx with its card, or .pt)")
    if not model.is_file():
        raise FileNotFoundError(f"--model {model}: model file not found")
    try:
        encoder, _ = load_start_encoder(model)
    except Exception as exc:  # torch, onnx and the card reader each raise their own types
        reason = " ".join(str(exc).split())[:200]
        raise ValueError(f"--model {model} cannot be loaded ({reason}): pass an exported .onnx with its "
                         ".json card, or a training checkpoint .pt") from None
    return str(encoder.config.synth)


def store_synths(store_dir: Path) -> Counter:
    """How many of the store's samples were captured for each synth (None: not recorded); empty when
    ``store_dir`` is not a folder."""
    from scrapl_live.finetune.store import CaptureStore

    if not store_dir.is_dir():
        return Counter()
    return Counter(s.meta.get("synth") for s in CaptureStore(store_dir, max_bytes=None).samples())


def check_store(store_dir: Path, synth: str, min_samples: int, model: Path, synths: Counter) -> int:
    """The store (its per-synth counts ``synths``, from :func:`store_synths`) must hold ``min_samples``
    samples, none captured with another synth's model; returns the sample count."""
    if store_dir.exists() and not store_dir.is_dir():
        raise ValueError(f"--store {store_dir} is a file, not a capture store folder")
    if not store_dir.is_dir():
        raise FileNotFoundError(f"--store {store_dir}: capture store folder not found "
                                f"(fill one with `scrapl-live finetune add FILES --store {store_dir}`)")
    n = sum(synths.values())
    if n < min_samples:
        raise ValueError(f"--store {store_dir} holds {n} sample(s); fine-tuning needs at least "
                         f"{min_samples}: add some with `scrapl-live finetune add FILES --store {store_dir} "
                         f"--model {model}`")
    other = {k: v for k, v in synths.items() if k is not None and k != synth}
    if other:
        which = ", ".join(f"{v} with a {k} model" for k, v in sorted(other.items()))
        raise ValueError(f"--store {store_dir} was captured for another synth ({which}) but --model {model} "
                         f"is a {synth} encoder: use a store captured with a {synth} model")
    return n


def shipped_start_model(synths: Counter) -> Path:
    """The shipped model of the synth most of a store's samples (per-synth counts ``synths``) were captured
    for (tr808 when none says; :func:`check_store` then reports what is wrong)."""
    from scrapl_live.resources import shipped_model

    named = Counter({k: v for k, v in synths.items() if k is not None})
    return shipped_model(named.most_common(1)[0][0] if named else "tr808")


def _run(args: argparse.Namespace) -> int:
    from scrapl_live.finetune.supervisor import Supervisor
    from scrapl_live.finetune.worker import FinetuneWorker

    synths = store_synths(args.store)
    if args.model is None:
        args.model = shipped_start_model(synths)
    cfg = finetune_config(args)
    synth = check_start_model(args.model)
    n = check_store(args.store, synth, cfg.min_samples, args.model, synths)
    print(f"{args.model}: {synth} encoder; store {args.store}: {n} samples")
    if args.foreground:
        step = FinetuneWorker(cfg).run()
        print(f"stopped at step {step}; checkpoint in {args.out_dir / 'ckpt'}")
        return 0
    sup = Supervisor(cfg).start()
    print(f"fine-tuning in the background; model exports go to {args.out_dir / 'model.onnx'} (Ctrl-C stops)")
    try:
        while not sup.wait(1.0):
            continue
    except KeyboardInterrupt:
        print("stopping: the worker writes its checkpoint")
    finally:
        sup.stop()
    print(f"{sup.starts} worker run(s), {len(sup.crashes)} crash(es); "
          f"status: scrapl-live finetune status --out-dir {args.out_dir}")
    if sup.gave_up is not None:
        raise RuntimeError(sup.gave_up)
    return 0 if sup.finished or not sup.crashes else 1


def _status(args: argparse.Namespace) -> int:
    from scrapl_live.finetune.status import format_status, plot_status, read_status

    status = read_status(args.out_dir)
    print(format_status(status))
    if args.png is not None:
        print(f"curve: {plot_status(status, args.png)}")
    return 0
