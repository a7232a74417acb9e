"""Live-bridge sub-commands: ``demo``, ``resynth`` (file mode), ``live`` (real time) and ``devices``.

Their parsers are here; they run in :mod:`~scrapl_live.live.cli_file` (``demo``, ``resynth``) and
:mod:`~scrapl_live.live.cli_live` (``live``, ``devices``), with the pieces both share in
:mod:`~scrapl_live.live.cli_parts`.

sounddevice/rtmidi are imported only by ``live``/``devices`` (and MIDI out only with ``--midi-port``),
so ``demo`` and ``resynth`` run where PortAudio, JACK or a MIDI backend are missing.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from scrapl_live.live.cli_file import run_demo_command, run_resynth
from scrapl_live.live.cli_live import run_devices, run_live

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
    p.set_defaults(func=run_demo_command)

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
    p.set_defaults(func=run_resynth)

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
    p.set_defaults(func=run_live)

    p = subparsers.add_parser("devices", help="list audio devices and MIDI ports")
    p.set_defaults(func=run_devices)


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
