"""The ``live`` (real time, with optional capture and background fine-tuning) and ``devices`` commands."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from scrapl_live.live.cli_parts import cli_mapping, cli_model, plugin_sinks, print_summary


def run_live(args: argparse.Namespace) -> int:
    """``scrapl-live live``: the engine on the sound card until Ctrl-C or --duration, then the summary."""
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.realtime import JOB_PRIORITY
    from scrapl_live.live.stream import LiveStream

    model = cli_model(args)
    names = list(model.param_names)
    sinks = plugin_sinks(args, names, args.sample_rate)
    if args.midi_port:
        from scrapl_live.control.midi import MidiSink

        port = None if args.midi_port == "virtual" else args.midi_port
        sinks.append(MidiSink(cli_mapping(args, names), names, args.sample_rate, port=port))
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
    print_summary(engine, "live session", stream.device_latency_ms)
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


def run_devices(args: argparse.Namespace) -> int:
    """``scrapl-live devices``: audio devices and MIDI ports."""
    from scrapl_live.control.devices import format_devices, list_devices

    print(format_devices(list_devices()))
    return 0
