"""Pieces the ``demo``, ``resynth`` and ``live`` commands share: the model, the sinks, the summary table."""

from __future__ import annotations

import argparse


def one_torch_thread() -> None:
    """Voices are single renders: one torch thread avoids OpenMP spin overhead on shared CPUs."""
    import torch

    torch.set_num_threads(1)


def cli_model(args: argparse.Namespace):  # noqa: ANN202 - LoadedModel, imported lazily
    """The --model (checked: an .onnx file whose synth agrees with --synth) or the shipped --synth one."""
    from scrapl_live.cli_checks import check_model_file
    from scrapl_live.live.model import load_model
    from scrapl_live.resources import shipped_model

    one_torch_thread()
    if args.model is None:
        return load_model(shipped_model(args.synth or "tr808"), args.threads)
    model = load_model(check_model_file(args.model), args.threads)
    if args.synth is not None and args.synth != model.synth:
        raise ValueError(f"--synth {args.synth} contradicts --model {args.model}, a {model.synth} encoder: "
                         "drop --synth or pass a model of that synth")
    return model


def cli_mapping(args: argparse.Namespace, names: list[str]):  # noqa: ANN202 - control.mapping.Mapping
    """The --map file's mapping, or the default mapping of the parameters ``names``."""
    from scrapl_live.control.mapping import default_mapping, load_mapping

    return load_mapping(args.map) if args.map else default_mapping(names)


def plugin_sinks(args: argparse.Namespace, names: list[str], sr: int) -> list[object]:
    """The --plugin sink and the mapping's per-class plugins ([classes.X] plugin = ...), at rate ``sr``."""
    routed: list[object] = []
    if args.map is not None and cli_mapping(args, names).class_plugins():  # [classes.X] plugin = ...
        from scrapl_live.control.routing import class_plugin_sinks

        routed = list(class_plugin_sinks(cli_mapping(args, names), names, sr))
    if args.plugin is None:
        midi = "--midi-port" if hasattr(args, "midi_port") else "--mid"
        if args.map is not None and not routed and not getattr(args, midi.strip("-").replace("-", "_"), None):
            raise ValueError(f"--map needs --plugin or {midi} to apply to")
        return routed
    from scrapl_live.control.plugins import PluginSink

    return [*routed, PluginSink(args.plugin, cli_mapping(args, names), names, sr)]


def print_summary(engine, title: str, device_ms: float = 0.0) -> None:  # noqa: ANN001 - Engine
    """The table of the engine's latest hits (or texture frames) and its latency parts, on the terminal."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    # Hits are stamped at their onset; texture frames at the start of their (past) analysis window, so
    # the time a frame is about is where that window ends.
    texture = engine.mode == "texture"
    offset = engine.window if texture else 0
    time_col = "window end s" if texture else "onset s"
    hits = list(engine.recent_hits)[:40]
    labelled = any(getattr(h, "label", None) is not None for h in hits)
    names = [s.name for s in engine.specs][:4]
    columns = ("#", time_col, *(["class"] if labelled else []), "velocity", *names)
    for col in columns:
        table.add_column(col, justify="left" if col == "class" else "right")
    first = engine.n_hits - len(engine.recent_hits)  # number of the oldest hit still held
    for i, h in enumerate(hits):
        values = [f"{h.params[s.name]:.3g}" for s in engine.specs][:4]
        when = (h.t_samples + offset) / engine.sample_rate
        cls = [_class_cell(h)] if labelled else []
        table.add_row(str(first + i + 1), f"{when:.3f}", *cls, f"{h.velocity:.2f}", *values)
    console = Console()
    console.print(table)
    rep = engine.latency.report(engine.sample_rate, engine.block_size, engine.window, device_ms)
    parts = ", ".join(f"{k.removesuffix('_ms')} {v:.1f}" for k, v in rep.items()
                      if k.endswith("_ms") and not k.endswith(("_p99_ms", "_cpu_ms")))
    console.print(f"{engine.n_hits} events; latency parts (ms): {parts}")


def _class_cell(hit) -> str:  # noqa: ANN001 - a hit or HitEvent
    from scrapl_live.live.plot import hit_label

    return hit_label(getattr(hit, "label", None), getattr(hit, "confidence", None)) or "-"
