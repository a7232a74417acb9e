"""``scrapl-live eval``: test metrics of a trained encoder (checkpoint or ONNX) → JSON + markdown table.

Metrics (the paper's): θ L1 ‰ per parameter (synthetic data, where θ is known); audio distances
between the target and the resynthesis x̂ = synth(θ̂): MSS log+lin and the full JTFS distance (the
synth's JTFS preset); for tr808 also loudness / spectral centroid / spectral flatness L1 on the
transient and decay frames. Everything is deterministic: x̂ uses seed = item position.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch

from scrapl_live.train.config import TrainConfig

log = logging.getLogger(__name__)


def load_predictor(path: str | Path) -> tuple[Callable[[torch.Tensor], torch.Tensor], dict[str, Any], int]:
    """(predict: audio (B, W) -> θ̂ (B, U), card, window W) for a ``.pt`` checkpoint or an ``.onnx`` model."""
    path = Path(path)
    if path.suffix == ".onnx":
        from scrapl_live.encoder.runtime import OnnxEncoder

        enc = OnnxEncoder(path)
        return (lambda x: torch.from_numpy(enc(x.numpy()))), enc.card, enc.window
    from scrapl_live.encoder.encoder import encoder_from_checkpoint

    encoder, card = encoder_from_checkpoint(path)
    card = {**card, "synth": encoder.config.synth}
    return (lambda x: encoder(x)), card, encoder.config.window


def card_train_config(card: dict[str, Any]) -> TrainConfig:
    """The model's training config from its card (defaults for the synth if the card has none)."""
    saved = (card.get("training") or {}).get("config")
    return TrainConfig.from_dict(saved) if saved else TrainConfig(synth=card["synth"])


def spread_indices(n_items: int, max_items: int) -> torch.Tensor:
    """``min(max_items, n_items)`` indices spread evenly over [0, n_items) (the whole set when it fits), so a
    subset of the pair-major θ grid still covers every θ region."""
    n = min(max_items, n_items)
    return torch.linspace(0, n_items - 1, n).round().long() if n > 1 else torch.zeros(n, dtype=torch.long)


def eval_batches(
    cfg: TrainConfig, synth: torch.nn.Module, data: str, split: str, max_items: int, bs: int
) -> Iterator[tuple[torch.Tensor, torch.Tensor | None]]:
    """Yield (target audio (b, 1, N), true θ (b, U) or None) over the evaluation set."""
    from scrapl_live.train.data import synthetic_dataset
    from scrapl_live.train.datasets import OneShotFolderDataset

    if data == "synthetic":
        if split == "all":
            raise ValueError("split='all' is only for folders of one-shots; use train, val or test")
        ds = synthetic_dataset(cfg, split, synth.params)
        idx = spread_indices(len(ds), max_items)
        for i in range(0, len(idx), bs):
            theta, seed = ds.theta[idx[i : i + bs]], ds.seed[idx[i : i + bs]]
            with torch.no_grad():
                yield synth(theta, seed), theta
        return
    ds = OneShotFolderDataset(data, synth.sample_rate, synth.n_samples, split, split_seed=cfg.seed)
    idx = spread_indices(len(ds), max_items)
    for i in range(0, len(idx), bs):
        yield ds.audio[idx[i : i + bs], None], None


def evaluate_model(
    model: str | Path,
    data: str = "synthetic",
    split: str = "test",
    max_items: int = 256,
    batch_size: int = 8,
    jtfs: bool = True,
) -> dict[str, Any]:
    """Evaluate ``model`` on ``data`` ('synthetic' or a folder); returns the report dict."""
    import synths
    from scrapl_live.loss.baselines import make_loss
    from scrapl_live.train.metrics import theta_l1_permille, tr808_feature_l1

    if max_items < 1 or batch_size < 1:
        raise ValueError(f"max_items and batch_size must be >= 1, got {max_items} and {batch_size}")
    predict, card, window = load_predictor(model)
    cfg = card_train_config(card)
    synth = synths.get(cfg.synth, **cfg.synth_options)
    mss = make_loss("mss-loglin")
    # the metric is the synth's default JTFS for every run (not a run's --log1p-eps): runs stay comparable
    preset = TrainConfig(synth=cfg.synth).jtfs_distance_settings
    jtfs_loss = make_loss("jtfs", shape=synth.n_samples, **preset) if jtfs else None
    sums: dict[str, float] = {}
    theta_err, n_theta, n = None, 0, 0
    for x, theta in eval_batches(cfg, synth, data, split, max_items, batch_size):
        b = x.shape[0]
        with torch.no_grad():
            theta_hat = predict(x[:, 0, :window]).float().clamp(0.0, 1.0)
            x_hat = synth(theta_hat, torch.arange(n, n + b))
            vals = {"mss_loglin": float(mss(x_hat, x))}
            if jtfs_loss is not None:
                vals["jtfs"] = float(jtfs_loss(x_hat, x))
        if cfg.synth == "tr808":
            vals.update(
                tr808_feature_l1(x_hat[:, 0].double().numpy(), x[:, 0].double().numpy(), synth.sample_rate)
            )
        for k, v in vals.items():
            sums[k] = sums.get(k, 0.0) + v * b
        if theta is not None:
            err = theta_l1_permille(theta_hat, theta) * b
            theta_err = err if theta_err is None else theta_err + err
            n_theta += b
        n += b
    if n == 0:
        raise ValueError(f"no evaluation items in data={data!r} split={split!r}")
    metrics = {k: v / n for k, v in sums.items()}
    report: dict[str, Any] = {
        "model": str(model),
        "synth": cfg.synth,
        "data": data,
        "split": split,
        "n_items": n,
        "metrics": metrics,
    }
    if theta_err is not None:
        per = (theta_err / n_theta).tolist()
        metrics["theta_l1_permille"] = float(np.mean(per))
        report["theta_l1_permille_per_param"] = dict(zip(synth.param_names, per, strict=True))
    return report


def markdown_table(report: dict[str, Any]) -> str:
    """The report as a markdown table (metric | value)."""
    lines = [
        f"Model `{report['model']}` ({report['synth']}), data `{report['data']}` ({report['split']}, "
        f"{report['n_items']} items)",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.4g} |" for k, v in report["metrics"].items()]
    lines += [
        f"| theta_l1 ‰ {k} | {v:.4g} |" for k, v in report.get("theta_l1_permille_per_param", {}).items()
    ]
    return "\n".join(lines) + "\n"


def write_report(report: dict[str, Any], out: str | Path | None = None) -> tuple[Path, Path]:
    """Write ``<out>.json`` and ``<out>.md`` (default stem: the model path with ``.eval``)."""
    stem = Path(out) if out is not None else Path(report["model"]).with_suffix(".eval")
    stem.parent.mkdir(parents=True, exist_ok=True)
    json_path, md_path = Path(f"{stem}.json"), Path(f"{stem}.md")
    json_path.write_text(json.dumps(report, indent=2) + "\n")
    md_path.write_text(markdown_table(report))
    return json_path, md_path


def add_to_card(report: dict[str, Any], model: str | Path) -> Path:
    """Record ``report`` under ``evaluation`` in the card beside an ``.onnx`` model, plus the synth options
    the model was trained with (``synth_options``, e.g. tr808 without pre-delay); returns the card path."""
    from scrapl_live.encoder.card import card_path, load_card

    card = load_card(model)
    cfg = card_train_config(card)
    entry = {k: report[k] for k in ("data", "split", "n_items", "metrics")}
    if "theta_l1_permille_per_param" in report:
        entry["theta_l1_permille_per_param"] = report["theta_l1_permille_per_param"]
    kept = [
        e for e in card.get("evaluation", []) if (e["data"], e["split"]) != (entry["data"], entry["split"])
    ]
    card["evaluation"] = [*kept, entry]
    card["synth_options"] = cfg.synth_options
    path = card_path(model)
    path.write_text(json.dumps(card, indent=2) + "\n")
    return path
