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
        "input.wav, resynth.wav, hits.mid (notes + CC automation), compare.png into --out.",
    )
    p.add_argument("--out", type=Path, default=Path("scrapl-live-demo"), help="output folder")
    p.add_argument("--tr808-model", type=Path, default=None, help="encoder for the drums (default: shipped)")
    p.add_argument("--granular-model", type=Path, default=None,
                   help="encoder for the texture (default: shipped)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")
    p.set_defaults(func=_demo)

    p = subparsers.add_parser(
        "resynth", help="file mode: resynthesise an audio file through the live engine",
        description="Reads WAV/FLAC/MP3/OGG at any rate, mono or stereo; writes the resynthesis and "
        "optionally a MIDI file of the hits with CC automation and/or plugin output.",
    )
    p.add_argument("input", type=Path, help="audio file")
    p.add_argument("-o", "--output", type=Path, default=None, help="output WAV (default: IN.resynth.wav)")
    _engine_args(p)
    p.add_argument("--mid", type=Path, default=None, help="also write a MIDI file (notes + CCs)")
    p.add_argument("--block", type=int, default=256, help="engine block size in samples")
    p.set_defaults(func=_resynth)

    p = subparsers.add_parser("live", help="real time: audio input → synth voices / MIDI / plugin")
    p.add_argument("--input", default=None, help="input device (index or name substring)")
    p.add_argument("--output", default=None, help="output device (index or name substring)")
    _engine_args(p)
    p.add_argument("--midi-port", default=None, help="send MIDI to this port ('virtual' = own port)")
    p.add_argument("--buffer", type=int, default=256, help="block size in frames")
    p.add_argument("--sample-rate", type=int, default=48000)
    p.add_argument("--queue-blocks", type=int, default=1,
                   help="output blocks allowed to queue (1 = lowest latency, more = fewer dropouts)")
    p.add_argument("--watch", action="store_true", help="hot-swap the model when its file changes")
    p.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    p.add_argument("--no-voices", action="store_true", help="do not play our synth voices")
    p.add_argument("--capture", type=Path, default=None,
                   help="store every analysed hit (from its onset) + θ̂ in this capture store, in the "
                   "background")
    p.add_argument("--finetune", type=Path, default=None, metavar="OUT",
                   help="fine-tune on the --capture store in a background process (exports to OUT) and "
                   "hot-swap each improved model")
    p.set_defaults(func=_live)

    p = subparsers.add_parser("devices", help="list audio devices and MIDI ports")
    p.set_defaults(func=_devices)


def _engine_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--synth", choices=SYNTHS, default="tr808",
                   help="which shipped model to use (with --model, the model card's synth decides)")
    p.add_argument("--model", type=Path, default=None, help="exported encoder (.onnx with its card)")
    p.add_argument("--plugin", default=None, help="plugin: PATH.vst3 or builtin:NAME (e.g. builtin:Reverb)")
    p.add_argument("--map", type=Path, default=None, help="parameter → CC/plugin mapping (TOML)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads")


def _one_torch_thread() -> None:
    """Voices are single renders: one torch thread avoids OpenMP spin overhead on shared CPUs."""
    import torch

    torch.set_num_threads(1)


def _model(args: argparse.Namespace):  # noqa: ANN202 - LoadedModel, imported lazily
    from scrapl_live.live.demo import shipped_model
    from scrapl_live.live.model import load_model

    _one_torch_thread()
    return load_model(args.model or shipped_model(args.synth), args.threads)


def _mapping(args: argparse.Namespace, names: list[str]):  # noqa: ANN202 - control.mapping.Mapping
    from scrapl_live.control.mapping import default_mapping, load_mapping

    return load_mapping(args.map) if args.map else default_mapping(names)


def _plugin_sink(args: argparse.Namespace, names: list[str], sr: int) -> list[object]:
    if args.plugin is None:
        if args.map is not None and not (getattr(args, "mid", None) or getattr(args, "midi_port", None)):
            raise ValueError("--map needs --plugin, --mid or --midi-port to apply to")
        return []
    from scrapl_live.control.plugins import PluginSink

    return [PluginSink(args.plugin, _mapping(args, names), names, sr)]


def _summary(engine, title: str, device_ms: float = 0.0) -> None:  # noqa: ANN001 - Engine
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    # Hits are stamped at their onset; texture frames at the start of their (past) analysis window, so
    # the time a frame is about is where that window ends.
    texture = engine.mode == "texture"
    offset = engine.window if texture else 0
    time_col = "window end s" if texture else "onset s"
    for col in ("#", time_col, "velocity", *[s.name for s in engine.specs][:4]):
        table.add_column(col, justify="right")
    for i, h in enumerate(engine.hits[:40]):
        values = [f"{h.params[s.name]:.3g}" for s in engine.specs][:4]
        when = (h.t_samples + offset) / engine.sample_rate
        table.add_row(str(i + 1), f"{when:.3f}", f"{h.velocity:.2f}", *values)
    console = Console()
    console.print(table)
    rep = engine.latency.report(engine.sample_rate, engine.block_size, engine.window, device_ms)
    parts = ", ".join(f"{k.removesuffix('_ms')} {v:.1f}" for k, v in rep.items()
                      if k.endswith("_ms") and not k.endswith(("_p99_ms", "_cpu_ms")))
    console.print(f"{len(engine.hits)} events; latency parts (ms): {parts}")


def _demo(args: argparse.Namespace) -> int:
    from scrapl_live.live.demo import run_demo

    _one_torch_thread()
    t0 = time.perf_counter()
    result = run_demo(args.out, args.tr808_model, args.granular_model, threads=args.threads)
    for name, engine in result.engines.items():
        _summary(engine, f"{name}: {engine.slot.current.synth} encoder {engine.slot.current.path.name}")
    n_true = len(result.example.hit_times)
    print(f"drum hits: {n_true} in the example, {len(result.engines['drums'].hits)} detected")
    for name, path in result.files.items():
        print(f"{name:>13}: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def _resynth(args: argparse.Namespace) -> int:
    from scrapl_live.control.midifile import MidiFileSink
    from scrapl_live.live.offline import FILE_SAMPLE_RATE, resynth_file

    model = _model(args)
    names = list(model.param_names)
    sinks = _plugin_sink(args, names, FILE_SAMPLE_RATE)
    if args.mid is not None:
        sinks.append(MidiFileSink(args.mid, _mapping(args, names), names, FILE_SAMPLE_RATE))
    out = args.output or args.input.with_suffix(".resynth.wav")
    result = resynth_file(args.input, model, out, sinks=sinks, block_size=args.block,
                          threads=args.threads, progress=True)
    _summary(result.engine, f"{args.input.name} → {out.name}")
    print(f"wrote {out}" + (f" and {args.mid}" if args.mid else ""))
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
    engine = Engine(model, args.sample_rate, args.buffer, sinks=sinks, play_voices=not args.no_voices,
                    threads=args.threads, async_inference=True, job_priority=JOB_PRIORITY)
    if args.watch:
        engine.slot.watch(model.path)
    capture, tuner = _finetune_parts(args, engine, model.path)
    stream = LiveStream(engine, args.input, args.output, queue_blocks=args.queue_blocks,
                        jack_client_name="scrapl-live")
    print(f"live: {model.synth} encoder {model.path.name}, {args.sample_rate} Hz, {args.buffer}-frame "
          f"blocks (device latency {stream.device_latency_ms:.1f} ms); Ctrl-C to stop")
    try:
        with stream:
            t_end = None if args.duration is None else time.monotonic() + args.duration
            while t_end is None or time.monotonic() < t_end:
                time.sleep(0.1)
    except KeyboardInterrupt:
        pass
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
    from scrapl_live.finetune.capture import BackgroundCapture, LiveCapture
    from scrapl_live.finetune.store import CaptureStore

    capture = LiveCapture.for_engine(engine, BackgroundCapture(CaptureStore(args.capture)))
    engine.capture = capture
    if args.finetune is None:
        return capture, None
    from scrapl_live.finetune.config import FinetuneConfig
    from scrapl_live.finetune.supervisor import Supervisor

    tuner = Supervisor(FinetuneConfig(model=str(model_path), store=str(args.capture),
                                      out_dir=str(args.finetune))).start()
    engine.slot.watch(args.finetune / "model.onnx")
    print(f"fine-tuning in the background: store {args.capture}, exports {args.finetune / 'model.onnx'}")
    return capture, tuner


def _devices(args: argparse.Namespace) -> int:
    from scrapl_live.control.devices import format_devices, list_devices

    print(format_devices(list_devices()))
    return 0
