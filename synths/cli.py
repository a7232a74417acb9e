"""``scrapl-live synth``: render synth patches to WAV (and PNG) from physical values, θ, or at random.

Examples::

    scrapl-live synth tr808 --set osc1_freq=55 --set noise_gain=-20 -o kick.wav --png kick.png
    scrapl-live synth tr808 --theta 0.1,0.5,0.2,0.3,0.05,0.2,0.1,0.02,0.1,0.05,0.9,0.7,0.5,0.5 -o hit.wav
    scrapl-live synth granular --random 8 --out-dir textures/
    scrapl-live synth chirplet --option preset=hi_hi --params
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` sub-command."""
    p = subparsers.add_parser(
        "synth",
        help="render a differentiable synth patch to WAV/PNG",
        description="Render synth patches. Values are physical (--set name=value) or normalised (--theta).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("Examples::", 1)[1],
    )
    p.add_argument("name", help="synth name (tr808, granular, chirplet)")
    p.add_argument(
        "--set", dest="values", action="append", default=[], metavar="PARAM=VALUE",
        help="physical parameter value, repeatable; unset parameters take their defaults",
    )  # fmt: skip
    p.add_argument("--theta", help="comma-separated normalised values in [0, 1], one per parameter, in order")
    p.add_argument(
        "--random", type=int, metavar="N", help="render N uniformly random patches into --out-dir"
    )
    p.add_argument("--seed", type=int, default=0, help="noise/grain/shift seed (first of the --random seeds)")
    p.add_argument("--shift", type=int, help="time shift in samples (tr808, chirplet)")
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE",
        help="synth constructor option, e.g. preset=hi_hi, time_shift=meso, pre_delay=0",
    )  # fmt: skip
    p.add_argument("--params", action="store_true", help="print the parameter table and exit")
    p.add_argument("-o", "--output", help="audio file of a single patch (.wav/.flac/.ogg)")
    p.add_argument("--out-dir", help="folder of the --random patches (WAV + PNG each, patches.json)")
    p.add_argument("--png", help="also write a waveform + spectrogram PNG (single patch)")
    p.set_defaults(func=_run)


def _parse_pairs(pairs: list[str], what: str) -> dict[str, str]:
    """['a=1', 'b=x'] → {'a': '1', 'b': 'x'}; a missing '=' is a ValueError naming ``what``."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{what} expects KEY=VALUE, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def _literal(text: str) -> int | float | bool | str:
    """Interpret a constructor option: int, float, true/false, else the string."""
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return {"true": True, "false": False}.get(text.lower(), text)


def _run(args: argparse.Namespace) -> int:
    import torch
    from rich.console import Console
    from rich.table import Table

    import synths

    synth = synths.get(
        args.name, **{k: _literal(v) for k, v in _parse_pairs(args.option, "--option").items()}
    )
    if args.params:
        table = Table("#", "name", "unit", "min", "max", "scale", "default", title=f"{args.name} parameters")
        for i, p in enumerate(synth.params):
            table.add_row(str(i), p.name, p.unit, f"{p.min:g}", f"{p.max:g}", p.scale, f"{p.default_value:g}")
        Console().print(table)
        return 0
    from scrapl_live.cli_checks import AUDIO_OUT, IMAGE_OUT, check_output, check_output_folder

    if args.random is not None:
        if args.values or args.theta or args.png or args.output:
            raise ValueError("--random cannot be combined with --set, --theta, --png or -o (it writes "
                             "into --out-dir)")
        if not args.out_dir:
            raise ValueError("--random needs --out-dir DIR (the folder its patches go to)")
        check_output_folder(args.out_dir, "--out-dir")
        return _render_random(synth, args)
    if not args.output:
        raise ValueError("-o/--output FILE.wav is required (or --random N --out-dir DIR)")
    if args.out_dir:
        raise ValueError("--out-dir is for --random; a single patch goes to -o/--output FILE.wav")
    check_output(args.output, AUDIO_OUT, "-o/--output")
    if args.png:
        check_output(args.png, IMAGE_OUT, "--png")

    if args.values and args.theta:
        raise ValueError("give either --set or --theta, not both")
    if args.theta:
        try:
            theta = torch.tensor([[float(v) for v in args.theta.split(",")]])
        except ValueError as exc:
            raise ValueError(f"--theta must be comma-separated numbers: {exc}") from None
    else:
        values = {k: _number(v, k) for k, v in _parse_pairs(args.values, "--set").items()}
        theta = synth.to_theta(values)
    shift = None if args.shift is None else torch.tensor([args.shift])
    with torch.no_grad():
        audio = synth(theta, torch.tensor([args.seed]), shift)[0, 0].numpy()
    path = _save(Path(args.output), audio, synth, f"{args.name} seed {args.seed}", args.png)
    Console().print(f"wrote {path}" + (f" and {args.png}" if args.png else ""))
    return 0


def _number(text: str, name: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--set {name}: {text!r} is not a number") from None


def _render_random(synth, args: argparse.Namespace) -> int:
    """Render ``args.random`` random patches into a folder: WAV + PNG each, and patches.json."""
    import torch
    from rich.progress import track

    from scrapl_live.atomic import write_atomic

    if args.random < 1:
        raise ValueError(f"--random must be >= 1, got {args.random}")
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    theta = synth.random_theta(args.random, seed=args.seed)
    seeds = torch.arange(args.seed, args.seed + args.random)
    phys = synth.to_physical(theta)
    patches = []
    for i in track(range(args.random), description=f"rendering {args.name}"):
        with torch.no_grad():
            audio = synth(theta[i : i + 1], seeds[i : i + 1])[0, 0].numpy()
        stem = out / f"{args.name}_{i:03d}"
        _save(stem.with_suffix(".wav"), audio, synth, f"{args.name} #{i}", str(stem.with_suffix(".png")))
        patches.append({
            "file": stem.with_suffix(".wav").name,
            "seed": int(seeds[i]),
            "theta": theta[i].tolist(),
            "values": {k: float(v[i]) for k, v in phys.items()},
        })  # fmt: skip
    text = json.dumps(patches, indent=2).encode()
    write_atomic(out / "patches.json", lambda f: f.write(text))
    print(f"wrote {args.random} patches to {out}/ (WAV + PNG, patches.json)")
    return 0


def _save(path: Path, audio, synth, title: str, png: str | None) -> Path:
    """Write the WAV (and the PNG when ``png`` is given); return the WAV path."""
    from scrapl_live.audio import save_audio

    peak = float(abs(audio).max())
    if peak > 0.99:  # the chirplet's amplitude scales with fm (up to 16): avoid clipping the 24-bit WAV
        print(f"{path.name}: peak {peak:.3g} scaled to 0.99 full scale")
        audio = audio * (0.99 / peak)
    written = save_audio(path, audio, synth.sample_rate)
    if png:
        from scrapl_live.atomic import write_atomic
        from scrapl_live.plots import waveform_and_spectrogram

        fig = waveform_and_spectrogram(None, audio, synth.sample_rate, title)
        write_atomic(png, lambda f: fig.savefig(f, format="png", dpi=100))
    return written
