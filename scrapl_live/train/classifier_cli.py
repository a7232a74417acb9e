"""``scrapl-live train-classifier``: train, measure and export the drum-class head (ONNX + card).

One head per window (``--windows``, 128 … 2048 samples) is trained on the training kits minus the
validation kits and scored on both held-out sets: validation kits (which choose the settings) and test
kits (reported only, never trained on, never used to choose).  Each held-out set is scored clean and
with its hats struck over a ringing kick of the same set (the kick's tail is background; the window
starts at the hat).  The heads are exported together as one network (:class:`DrumClassBank`): a hit is
classified from as much of it as has been heard.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from scrapl_live.train.classifier_data import EQ_DB

log = logging.getLogger(__name__)

DEFAULT_DATA = (Path("data/drums"), Path("data/hydrogen"))
DEFAULT_VAL_KITS = ("GMRockKit", "ElectricEmpireKit", "Millo_MultiLayered3")
MEMBERS = 3
"""MLPs averaged per head (chosen on the validation kits, see docs/results.md "Drum classes")."""
KICK_TAIL_S = (0.08, 0.15, 0.25)
"""Times after a kick's attack at which a test hat is struck over its tail."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train-classifier`` to the ``scrapl-live`` parser."""
    p = subparsers.add_parser(
        "train-classifier", help="train the drum-class head (kick/snare/tom/hats/cymbal/clap/other) on "
        "labelled one-shots and export it (ONNX + JSON card)",
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, action="append", default=None,
                   help="one-shot corpus folder with a manifest.json, from `scrapl-live data drums` or "
                   "`data hydrogen` (repeatable; default data/drums, else data/hydrogen)")
    p.add_argument("--long-data", type=Path, action="append", default=[],
                   help="training corpus used by the longest head only (repeatable; the general-MIDI "
                   "soundfont kits raise the full-window head and lower the short ones, docs/results.md)")
    p.add_argument("-o", "--output", dest="out", type=Path, default=Path("models/drumclass.onnx"),
                   help="exported head (.onnx)")
    p.add_argument("--out", type=Path, dest="out", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--windows", type=int, nargs="+", default=[128, 256, 512, 1024, 2048],
                   help="head windows (samples at 44.1 kHz from the onset); the shortest is the least a "
                   "hit must have been heard to be classified")
    p.add_argument("--val-kits", nargs="+", default=None,
                   help="training kits held out to choose the settings (default: the corpus's val split, "
                   f"else {' '.join(DEFAULT_VAL_KITS)})")
    p.add_argument("--members", type=int, default=MEMBERS, help="MLPs averaged in each head (an ensemble)")

    p.add_argument("--copies", type=int, default=24, help="augmented copies of each training one-shot")
    p.add_argument("--eq-db", type=float, default=EQ_DB,
                   help="largest gain of the random equaliser of the augmentation, dB (0: none)")
    p.add_argument("--epochs", type=int, default=40, help="training epochs over the augmented set")
    p.add_argument("--seed", type=int, default=0, help="seed of augmentation, initialisation, batches")
    p.add_argument("--report", type=Path, default=None, help="also write the measurement table (JSON)")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(1)
    if args.out.suffix != ".onnx":
        raise ValueError(f"-o/--output must end in .onnx, got {args.out}")
    from scrapl_live.train.classifier import MIN_WINDOW

    if min(args.windows) < MIN_WINDOW:
        raise ValueError(f"--windows must be >= {MIN_WINDOW} samples, got {min(args.windows)}")
    if len(set(args.windows)) != len(args.windows):
        raise ValueError(f"--windows must be different, got {args.windows}")
    if args.members < 1:
        raise ValueError(f"--members must be >= 1, got {args.members}")
    if not 0 <= args.eq_db <= 24:
        raise ValueError(f"--eq-db must be in 0..24 dB, got {args.eq_db}")
    data = args.data or [next((p for p in DEFAULT_DATA if (p / "manifest.json").is_file()), DEFAULT_DATA[0])]
    t0 = time.perf_counter()
    sets = load_sets(data, args.val_kits, max(args.windows))
    longest = {**sets, "train": with_train(sets["train"], args.long_data, max(args.windows))}
    results = {w: measure(longest if w == max(args.windows) else sets, w, args) for w in sorted(args.windows)}
    for w, r in results.items():
        test = {**r["test"]["per_class"], "hat": r["test"]["hat"],
                "hat over a kick taken for a kick": r["test"]["hat_over_kick_as_kick"]}
        print(f"window {w:5d} ({w / 44.1:5.1f} ms): balanced accuracy val {r['val']['balanced']:.3f} test "
              f"{r['test']['balanced']:.3f}; test " + ", ".join(
                  f"{k} {test[k]:.2f}" for k in ("kick", "snare", "hat", "hat over a kick taken for a kick")
                  if test[k] is not None))
    from scrapl_live.train.classifier import DrumClassBank

    bank = DrumClassBank([r.pop("net") for r in results.values()])
    card = export(bank, args.out, results, sets, args, data)
    print(f"exported windows {list(bank.windows)}: {args.out} ({args.out.stat().st_size / 1e3:.0f} kB), "
          "test per class at the full window "
          + ", ".join(f"{c} {v:.2f}" for c, v in card["test"]["per_class"].items() if v is not None))
    if args.report is not None:
        args.report.write_text(json.dumps({"windows": results}, indent=1) + "\n")
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


def load_sets(data: list[Path], val_kits: list[str] | None, n: int) -> dict[str, Any]:
    """Training / validation / test one-shots (heads of 0.5 s + margin) from the corpora.

    val_kits: training kits to validate on (None: the corpora's own val split, else DEFAULT_VAL_KITS).
    """
    from scrapl_live.train.classifier_data import corpus_items

    items = [it for root in data for it in corpus_items(root, tuple(val_kits or ()))]
    if val_kits is None and not any(it.split == "val" for it in items):
        items = [it for root in data for it in corpus_items(root, DEFAULT_VAL_KITS)]
    kits = {it.kit for it in items} | {it.kit.split("/")[-1] for it in items}
    unknown = sorted(set(val_kits or ()) - kits)
    if unknown:
        raise ValueError(f"--val-kits {unknown} are not in the corpora; kits: {sorted(kits)}")
    sets: dict[str, Any] = {}
    for name in ("train", "val", "test"):
        group = [it for it in items if it.split == name]
        if not group:
            raise ValueError(f"no labelled {name} one-shots in {[str(d) for d in data]}")
        sets[name] = _one_shots(group, n)
        log.info("%s: %d one-shots from %d kits", name, len(sets[name]["heads"]), len(sets[name]["kits"]))
    return sets


def _one_shots(group: list[Any], n: int) -> dict[str, Any]:
    """Heads (0.5 s + margin for a window of ``n``), labels and kits of the decodable one-shots of
    ``group`` (classifier_data.OneShot items)."""
    from scrapl_live.live.classify import CLASSES
    from scrapl_live.train.classifier import SAMPLE_RATE
    from scrapl_live.train.classifier_data import load_items

    heads, kept = load_items(group, SAMPLE_RATE, int(0.5 * SAMPLE_RATE + 1.1 * (n + 96)) + 1)
    return {"heads": heads, "labels": np.array([CLASSES.index(it.label) for it in kept], np.int64),
            "kits": sorted({it.kit for it in kept})}


def with_train(train: dict[str, Any], extra: list[Path], n: int) -> dict[str, Any]:
    """The training set plus the training one-shots of the ``extra`` corpora (as :func:`load_sets`)."""
    if not extra:
        return train
    from scrapl_live.train.classifier_data import corpus_items

    group = [it for root in extra for it in corpus_items(root) if it.split == "train"]
    if not group:
        raise ValueError(f"no labelled train one-shots in --long-data {[str(d) for d in extra]}")
    more = _one_shots(group, n)
    log.info("longest head: %d more training one-shots from %s", len(more["heads"]), [str(d) for d in extra])
    return {"heads": train["heads"] + more["heads"],
            "labels": np.concatenate([train["labels"], more["labels"]]),
            "kits": sorted(set(train["kits"]) | set(more["kits"]))}


def hats_over_kicks(heads: list[np.ndarray], labels: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Each hat of a set struck over each kick's tail (KICK_TAIL_S after its attack), at half the kick's
    peak: windows (M, n) starting at the hat's attack, and the hats' labels."""
    from scrapl_live.live.classify import CLASSES
    from scrapl_live.train.classifier import SAMPLE_RATE

    kicks = [h for h, y in zip(heads, labels, strict=True) if CLASSES[y] == "kick"]
    hats = [(h, y) for h, y in zip(heads, labels, strict=True) if CLASSES[y] in ("closed_hat", "open_hat")]
    windows, ys = [], []
    for kick in kicks:
        kick_peak = float(np.max(np.abs(kick)))
        for t in KICK_TAIL_S:
            start = int(t * SAMPLE_RATE)
            for hat, y in hats:
                w = kick[start : start + n] + hat[:n] * (0.5 * kick_peak / float(np.max(np.abs(hat))))
                windows.append(w)
                ys.append(y)
    return np.array(windows, np.float32).reshape(-1, n), np.array(ys, np.int64)


def score(net: Any, heads: list[np.ndarray], labels: np.ndarray, n: int) -> dict[str, Any]:
    """Per-class and balanced accuracy of clean heads, hats called a hat (open or closed), and hats over
    kick tails (share predicted kick)."""
    from scrapl_live.live.classify import CLASSES
    from scrapl_live.train.classifier import balanced_accuracy, per_class_accuracy, predict

    pred = predict(net, np.stack([h[:n] for h in heads])).argmax(1)
    per_class = per_class_accuracy(pred, labels)
    hats = [CLASSES.index("closed_hat"), CLASSES.index("open_hat")]
    is_hat = np.isin(labels, hats)
    mixed, ys = hats_over_kicks(heads, labels, n)
    mixed_pred = predict(net, mixed).argmax(1) if len(mixed) else np.zeros(0, np.int64)
    return {
        "n": int(len(labels)), "per_class": per_class, "balanced": balanced_accuracy(per_class),
        "hat": float(np.mean(np.isin(pred[is_hat], hats))) if is_hat.any() else None,
        "counts": {c: int(np.sum(labels == i)) for i, c in enumerate(CLASSES)},
        "hat_over_kick_n": int(len(ys)),
        "hat_over_kick_accuracy": float(np.mean(mixed_pred == ys)) if len(ys) else None,
        "hat_over_kick_as_kick": float(np.mean(mixed_pred == CLASSES.index("kick"))) if len(ys) else None,
    }


def measure(sets: dict[str, Any], n: int, args: argparse.Namespace) -> dict[str, Any]:
    """Train a head with window ``n`` and score it on the validation and test kits."""
    from scrapl_live.train.classifier import SAMPLE_RATE, DrumClassNet, round_to_half, train_head
    from scrapl_live.train.classifier_data import augment

    rng = np.random.default_rng(args.seed)
    x, y = augment(sets["train"]["heads"], sets["train"]["labels"], n, args.copies, rng, SAMPLE_RATE,
                   eq_db=args.eq_db)
    net = DrumClassNet(n, members=args.members)
    losses = train_head(net, x, y, seed=args.seed, epochs=args.epochs)
    round_to_half(net)  # scored as exported
    return {"net": net, "final_loss": losses[-1],
            "val": score(net, sets["val"]["heads"], sets["val"]["labels"], n),
            "test": score(net, sets["test"]["heads"], sets["test"]["labels"], n)}


def export(net: Any, path: Path, results: dict[int, dict[str, Any]], sets: dict[str, Any],
           args: argparse.Namespace, data: list[Path]) -> dict[str, Any]:
    """Write ``path`` (ONNX: input ``audio`` (batch, longest window), output ``probs`` (batch, heads,
    classes)) and its JSON card, for a :class:`DrumClassBank` ``net``."""
    import torch

    from scrapl_live.atomic import write_atomic
    from scrapl_live.encoder.card import file_sha256, ort_session
    from scrapl_live.encoder.export import _strip_node_metadata
    from scrapl_live.live.classify import CARD_FORMAT, CLASSES, INPUT_NAME, OUTPUT_NAME, card_path
    from scrapl_live.train.classifier import SAMPLE_RATE

    path.parent.mkdir(parents=True, exist_ok=True)
    window = net.eval().window
    example = torch.randn(3, window, generator=torch.Generator().manual_seed(0))
    torch.onnx.export(net, (example,), str(path), input_names=[INPUT_NAME], output_names=[OUTPUT_NAME],
                      opset_version=18, dynamo=True, optimize=False, external_data=False, verbose=False,
                      dynamic_shapes={"audio": {0: torch.export.Dim("batch")}})
    _strip_node_metadata(path)
    _store_half(path)
    session = ort_session(path)
    with torch.no_grad():
        expected = net(example).numpy()
    parity = float(np.abs(session.run(None, {INPUT_NAME: example.numpy()})[0] - expected).max())
    if parity > 1e-4:
        raise RuntimeError(f"onnxruntime differs from torch by {parity:.3g} for {path}")
    chosen = results[window]
    card = {
        "format": CARD_FORMAT, "classes": list(CLASSES), "sample_rate": SAMPLE_RATE, "window": window,
        "window_ms": round(1000 * window / SAMPLE_RATE, 2), "windows": list(net.windows),
        "onnx": {"file": path.name, "input": INPUT_NAME, "output": OUTPUT_NAME, "bytes": path.stat().st_size,
                 "sha256": file_sha256(path), "parity_max_abs": parity},
        "training": {"command": "scrapl-live " + shlex.join(sys.argv[1:]), "data": [str(d) for d in data],
                     "long_data": [str(d) for d in args.long_data],
                     "seed": args.seed, "copies": args.copies, "epochs": args.epochs, "members": args.members,
                     "eq_db": args.eq_db,
                     "train_kits": sets["train"]["kits"], "val_kits": sets["val"]["kits"],
                     "test_kits": sets["test"]["kits"], "n_train": len(sets["train"]["heads"])},
        "val": {k: v for k, v in chosen["val"].items()},
        "test": {k: v for k, v in chosen["test"].items()},
        "by_window": {str(w): {"val_balanced": r["val"]["balanced"], "test_balanced": r["test"]["balanced"],
                               "val_per_class": r["val"]["per_class"],
                               "test_per_class": r["test"]["per_class"], "test_hat": r["test"]["hat"],
                               "test_hat_over_kick_as_kick": r["test"]["hat_over_kick_as_kick"]}
                      for w, r in results.items()},
    }
    write_atomic(card_path(path), lambda f: f.write((json.dumps(card, indent=1) + "\n").encode()))
    return card


def _store_half(path: Path) -> None:
    """Rewrite the ONNX file with its float32 initializers of ≥ HALF_MIN_SIZE values stored as float16,
    each behind a Cast (onnxruntime folds the casts when it loads the graph: no cost per call)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from scrapl_live.train.classifier import HALF_MIN_SIZE

    model = onnx.load(str(path))
    graph = model.graph
    casts = []
    for init in graph.initializer:
        if init.data_type == TensorProto.FLOAT and int(np.prod(init.dims)) >= HALF_MIN_SIZE:
            name = init.name
            half = numpy_helper.to_array(init).astype(np.float16)
            init.CopyFrom(numpy_helper.from_array(half, name + "/f16"))
            casts.append(helper.make_node("Cast", [name + "/f16"], [name], to=TensorProto.FLOAT))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
