"""Live-bridge sub-commands: ``demo``, ``resynth`` (file mode), ``live`` (real time) and ``devices``.

sounddevice/rtmidi are imported only by ``live``/``devices`` (and MIDI out only with ``--midi-port``),
so ``demo`` and ``resynth`` run where PortAudio, JACK or a MIDI backend are missing.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

SYNTHS = ("tr808", "granular")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``demo``, ``resynth``, ``live`` and ``devices`` to the ``scrapl-live`` parser."""
    p = subparsers.add_parser(
        "demo", help="resynthesise the bundled example (808 drums + texture) offline: WAV, MIDI, PNG",
        description="Runs a reproducible example through the same engine as live mode and writes "
        "input.wav, resynth.wav, hits.mid (notes + CC automation), compare.png into --out-dir.",
    )
    p.add_argument("--out-dir", type=Path, default=Path("scrapl-live-demo"), help="output folder")
    p.add_argument("--out", type=Path, dest="out_dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("--tr808-model", type=Path, default=None, help="encoder for the drums (default: shipped)")
    p.add_argument("--granular-model", type=Path, default=None,
                   help="encoder for the texture (default: shipped)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.set_defaults(func=_demo)

    p = subparsers.add_parser(
        "resynth", help="file mode: resynthesise an audio file through the live engine",
        description="Reads WAV/FLAC/MP3/OGG at any rate, mono or stereo; writes the resynthesis and "
        "optionally a MIDI file of the hits with CC automation and/or plugin output. Outputs are "
        "checked before the work starts and written only when it completes.",
    )
    p.add_argument("input", type=Path, help="audio file")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output audio file, .wav/.flac/.ogg (default: INPUT.resynth.wav)")
    _engine_args(p)
    p.add_argument("--mid", type=Path, default=None, help="also write a MIDI file (notes + CCs), .mid")
    from scrapl_live.refine import DEFAULT_STEPS

    p.add_argument("--refine", type=int, nargs="?", const=DEFAULT_STEPS, default=None, metavar="STEPS",
                   help=f"tr808: refine every hit's θ by analysis by synthesis before writing the audio "
                   f"(STEPS Adam steps, default {DEFAULT_STEPS}; the MIDI file keeps the encoder's θ̂)")
    _block_arg(p)
    p.set_defaults(func=_resynth)

    p = subparsers.add_parser(
        "live", help="real time: audio input → synth voices / MIDI / plugin",
        description="Listens to an audio input, plays a voice per hit (or a texture) and sends MIDI or "
        "drives a plugin, with a terminal view of the levels, hits, latency, model and fine-tuning "
        "(--quiet: none). Ctrl-C stops.",
    )
    p.add_argument("--input-device", default=None, help="audio input device (index or name substring)")
    p.add_argument("--output-device", default=None, help="audio output device (index or name substring)")
    _engine_args(p)
    p.add_argument("--midi-port", default=None, help="send MIDI to this port ('virtual' = own port)")
    _block_arg(p)
    p.add_argument("--sample-rate", type=int, default=48000, help="audio rate (Hz)")
    p.add_argument("--queue-blocks", type=int, default=1,
                   help="output blocks allowed to queue (1 = lowest latency, more = fewer dropouts)")
    p.add_argument("--watch", action="store_true", help="hot-swap the model when its file changes")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--no-voices", action="store_true", help="do not play our synth voices")
    p.add_argument("--first-window", type=int, default=256,
                   help="tr808: samples (at the model's rate, 128-1024) heard before a hit's voice starts")
    p.add_argument("--no-refine", action="store_true",
                   help="tr808: keep each hit's first prediction (no refinement on the longer windows)")
    p.add_argument("--quiet", action="store_true", help="no terminal view, only the summary at the end")
    p.add_argument("--capture", type=Path, default=None,
                   help="store every analysed hit (from its onset) + θ̂ in this capture store, in the "
                   "background")
    p.add_argument("--finetune", type=Path, default=None, metavar="OUT_DIR",
                   help="fine-tune on the --capture store in a background process (exports to OUT_DIR) "
                   "and hot-swap each improved model")
    p.set_defaults(func=_live)

    p = subparsers.add_parser("devices", help="list audio devices and MIDI ports")
    p.set_defaults(func=_devices)


def _block_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--block", type=int, default=256, help="engine block size in samples (frames)")
    p.add_argument("--buffer", type=int, dest="block", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synth", choices=SYNTHS, default=None,
                   help="use the shipped model of this synth (default: tr808); with --model, it must "
                   "match the model's synth")
    p.add_argument("--model", type=Path, default=None, help="exported encoder (.onnx with its .json card)")
    p.add_argument("--plugin", default=None, help="plugin: PATH.vst3 or builtin:NAME (e.g. builtin:Reverb)")
    p.add_argument("--map", type=Path, default=None, help="parameter → CC/plugin mapping (TOML)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")


def _one_torch_thread() -> None:
    """Voices are single renders: one torch thread avoids OpenMP spin overhead on shared CPUs."""
    import torch

    torch.set_num_threads(1)


def _model(args: argparse.Namespace):  # noqa: ANN202 - LoadedModel, imported lazily
    """The --model (checked: an .onnx file whose synth agrees with --synth) or the shipped --synth one."""
    from scrapl_live.cli_checks import check_model_file
    from scrapl_live.live.model import load_model
    from scrapl_live.resources import shipped_model

    _one_torch_thread()
    if args.model is None:
        return load_model(shipped_model(args.synth or "tr808"), args.threads)
    model = load_model(check_model_file(args.model), args.threads)
    if args.synth is not None and args.synth != model.synth:
        raise ValueError(f"--synth {args.synth} contradicts --model {args.model}, a {model.synth} encoder: "
                         "drop --synth or pass a model of that synth")
    return model


def _mapping(args: argparse.Namespace, names: list[str]):  # noqa: ANN202 - control.mapping.Mapping
    from scrapl_live.control.mapping import default_mapping, load_mapping

    return load_mapping(args.map) if args.map else default_mapping(names)


def _plugin_sink(args: argparse.Namespace, names: list[str], sr: int) -> list[object]:
    routed: list[object] = []
    if args.map is not None and _mapping(args, names).class_plugins():  # [classes.X] plugin = ...
        from scrapl_live.control.routing import class_plugin_sinks

        routed = list(class_plugin_sinks(_mapping(args, names), names, sr))
    if args.plugin is None:
        midi = "--midi-port" if hasattr(args, "midi_port") else "--mid"
        if args.map is not None and not routed and not getattr(args, midi.strip("-").replace("-", "_"), None):
            raise ValueError(f"--map needs --plugin or {midi} to apply to")
        return routed
    from scrapl_live.control.plugins import PluginSink

    return [*routed, PluginSink(args.plugin, _mapping(args, names), names, sr)]


def _summary(engine, title: str, device_ms: float = 0.0) -> None:  # noqa: ANN001 - Engine
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


def _demo(args: argparse.Namespace) -> int:
    from scrapl_live.cli_checks import check_model_file, check_output_folder
    from scrapl_live.live.demo import run_demo

    check_output_folder(args.out_dir, "--out-dir")
    for flag, path in (("--tr808-model", args.tr808_model), ("--granular-model", args.granular_model)):
        if path is not None:
            check_model_file(path, flag)
    _one_torch_thread()
    t0 = time.perf_counter()
    result = run_demo(args.out_dir, args.tr808_model, args.granular_model, threads=args.threads)
    for name, engine in result.engines.items():
        _summary(engine, f"{name}: {engine.slot.current.synth} encoder {engine.slot.current.path.name}")
    n_true = len(result.example.hit_times)
    print(f"drum hits: {n_true} in the example, {result.engines['drums'].n_hits} detected")
    for name, path in result.files.items():
        print(f"{name:>13}: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _resynth(args: argparse.Namespace) -> int:
    from contextlib import ExitStack

    from scrapl_live.atomic import staged
    from scrapl_live.cli_checks import AUDIO_OUT, MIDI_OUT, check_output
    from scrapl_live.control.midifile import MidiFileSink
    from scrapl_live.live.offline import FILE_SAMPLE_RATE, resynth_file

    if args.input.is_dir():
        raise ValueError(f"{args.input} is a folder, not an audio file: resynth takes one file")
    if not args.input.is_file():
        raise FileNotFoundError(f"audio file not found: {args.input}")
    out = check_output(args.output or args.input.with_suffix(".resynth.wav"), AUDIO_OUT, "-o/--output",
                       [args.input])
    mid = None if args.mid is None else check_output(args.mid, MIDI_OUT, "--mid", [args.input])
    model = _model(args)
    names = list(model.param_names)
    sinks = _plugin_sink(args, names, FILE_SAMPLE_RATE)
    with ExitStack() as stack:  # the files appear only when everything is done (never half-written)
        tmp_out = stack.enter_context(staged(out))
        if mid is not None:
            sinks.append(MidiFileSink(stack.enter_context(staged(mid)), _mapping(args, names), names,
                                      FILE_SAMPLE_RATE))
        if args.refine is not None:
            from scrapl_live.refine import HitRecorder, refine_file

            if model.synth != "tr808" or args.refine < 0:
                raise ValueError(f"--refine needs a tr808 model and STEPS >= 0, got {model.synth}, "
                                 f"{args.refine}")
            sinks.append(recorder := HitRecorder())
        result = resynth_file(args.input, model, tmp_out, sinks=sinks, block_size=args.block,
                              threads=args.threads, progress=True)
        if args.refine is not None:  # the refined voices replace the engine's output
            from scrapl_live.audio import save_audio

            audio, _ = refine_file(result.input, result.sample_rate, list(recorder.hits.values()),
                                   args.refine, n_out=result.output.size)
            save_audio(tmp_out, audio, result.sample_rate)
    _summary(result.engine, f"{args.input.name} → {out.name}")
    print(f"wrote {out}" + (f" and {mid}" if mid else ""))
    return 0


def _live(args: argparse.Namespace) -> int:
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.realtime import JOB_PRIORITY
    from scrapl_live.live.stream import LiveStream

    model = _model(args)
    names = list(model.param_names)
    sinks = _plugin_sink(args, names, args.sample_rate)
    if args.midi_port:
        from scrapl_live.control.midi import MidiSink

        port = None if args.midi_port == "virtual" else args.midi_port
        sinks.append(MidiSink(_mapping(args, names), names, args.sample_rate, port=port))
    hits = {"first_window": args.first_window, "refine": not args.no_refine} if model.synth == "tr808" else {}
    engine = Engine(model, args.sample_rate, args.block, sinks=sinks, play_voices=not args.no_voices,
                    threads=args.threads, async_inference=True, job_priority=JOB_PRIORITY, **hits)
    capture = tuner = view = None
    try:
        if args.watch:
            engine.slot.watch(model.path)
        capture, tuner = _finetune_parts(args, engine, model.path)
        stream = LiveStream(engine, args.input_device, args.output_device, queue_blocks=args.queue_blocks,
                            jack_client_name="scrapl-live")
        print(f"live: {model.synth} encoder {model.path.name}, {args.sample_rate} Hz, {args.block}-frame "
              f"blocks (device latency {stream.device_latency_ms:.1f} ms); Ctrl-C to stop")
        try:
            with stream:
                if not args.quiet:
                    from scrapl_live.live.dashboard import Dashboard

                    view = Dashboard(engine, stream, args.finetune, tuner=tuner).start()
                t_end = None if args.duration is None else time.monotonic() + args.duration
                while t_end is None or time.monotonic() < t_end:
                    time.sleep(0.1)
        except KeyboardInterrupt:
            pass
        finally:
            if view is not None:
                view.stop()
    finally:
        engine.close()
        if tuner is not None:
            tuner.stop()
        if capture is not None:
            capture.close()
    _summary(engine, "live session", stream.device_latency_ms)
    print(f"xruns {stream.xruns}, engine underruns {stream.underruns}, errors {engine.errors}")
    return 0


def _finetune_parts(args: argparse.Namespace, engine, model_path: Path):  # noqa: ANN001, ANN202
    """``--capture``: LiveCapture fed by the engine; ``--finetune``: the supervised worker on that
    store, its exports watched and hot-swapped. Returns (capture or None, supervisor or None)."""
    if args.finetune is not None and args.capture is None:
        raise ValueError("--finetune needs --capture DIR (the store it learns from)")
    if args.capture is None:
        return None, None
    from scrapl_live.finetune.cli import check_store, store_synths
    from scrapl_live.finetune.live_capture import BackgroundCapture, LiveCapture

    if args.capture.exists():  # a store of another synth's captures would be learnt from silently
        check_store(args.capture, engine.slot.current.synth, 0, model_path, store_synths(args.capture))
    from scrapl_live.finetune.store import CaptureStore

    capture = LiveCapture.for_engine(engine, BackgroundCapture(CaptureStore(args.capture)))
    engine.capture = capture
    if args.finetune is None:
        return capture, None
    from scrapl_live.cli_checks import check_output_folder
    from scrapl_live.finetune.config import FinetuneConfig
    from scrapl_live.finetune.supervisor import Supervisor

    check_output_folder(args.finetune, "--finetune")
    tuner = Supervisor(FinetuneConfig(model=str(model_path), store=str(args.capture),
                                      out_dir=str(args.finetune))).start()
    engine.slot.watch(args.finetune / "model.onnx")
    print(f"fine-tuning in the background: store {args.capture}, exports {args.finetune / 'model.onnx'}")
    return capture, tuner


def _devices(args: argparse.Namespace) -> int:
    from scrapl_live.control.devices import format_devices, list_devices

    print(format_devices(list_devices()))
    return 0
