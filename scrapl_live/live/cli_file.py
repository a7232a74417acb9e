"""The ``demo`` and ``resynth`` commands (file mode): the checks, the run, the summary and the messages."""

from __future__ import annotations

import argparse
import time

from scrapl_live.live.cli_parts import cli_mapping, cli_model, one_torch_thread, plugin_sinks, print_summary


def run_demo_command(args: argparse.Namespace) -> int:
    """``scrapl-live demo``: the bundled example through both engines, its files and summaries."""
    from scrapl_live.cli_checks import check_model_file, check_output_folder
    from scrapl_live.live.demo import run_demo

    check_output_folder(args.out_dir, "--out-dir")
    for flag, path in (("--tr808-model", args.tr808_model), ("--granular-model", args.granular_model)):
        if path is not None:
            check_model_file(path, flag)
    one_torch_thread()
    t0 = time.perf_counter()
    result = run_demo(args.out_dir, args.tr808_model, args.granular_model, threads=args.threads)
    for name, engine in result.engines.items():
        print_summary(engine, f"{name}: {engine.slot.current.synth} {analysed_by(engine)}")
    n_true = len(result.example.hit_times)
    print(f"drum hits: {n_true} in the example, {result.engines['drums'].n_hits} detected")
    for name, path in result.files.items():
        print(f"{name:>13}: {path}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def run_resynth(args: argparse.Namespace) -> int:
    """``scrapl-live resynth``: one file through the engine; outputs checked first, written when done."""
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
    model = cli_model(args)
    names = list(model.param_names)
    sinks = plugin_sinks(args, names, FILE_SAMPLE_RATE)
    with ExitStack() as stack:  # the files appear only when everything is done (never half-written)
        tmp_out = stack.enter_context(staged(out))
        if mid is not None:
            sinks.append(MidiFileSink(stack.enter_context(staged(mid)), cli_mapping(args, names), names,
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
    print_summary(result.engine, f"{args.input.name} → {out.name}, {analysed_by(result.engine)}")
    print(f"wrote {out}" + (f" and {mid}" if mid else ""))
    return 0


def analysed_by(engine) -> str:  # noqa: ANN001 - Engine, imported lazily
    """Which encoder analysed the run's input, and on how many samples (for the summary's title)."""
    model = engine.analyser
    kind = "full-hit encoder" if model is not engine.slot.current else "encoder"
    return f"{kind} {model.path.name} ({model.windows[-1]}-sample window)"
