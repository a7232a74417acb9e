"""Live view cost: the same JACK dummy run of the live engine with and without the terminal dashboard.

    python benchmarks/bench_dashboard.py [--seconds 60] [--rounds 2] [--rate 8] [--hz 10] [--no-server]

The shipped tr808 encoder at 48 kHz / 256-frame blocks gets --rate hits/s from a second PortAudio client
(the player, a trivial callback: the xrun peer), exactly as in ``bench_live.py`` section 4.  Each round
runs the engine once with the view off and once with it drawn at --hz (10 = the most ``live`` allows)
by its own process into a terminal-like console (every frame fully laid out, written to /dev/null);
the order alternates between rounds.  Reported per run: xruns of the engine's stream and of the
player, engine underruns (blocks delivered late), frames drawn; then the totals with and without
the view.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_live import BLOCK, SR, _load, _play_through, jack_server  # noqa: E402

from tests.live.signals import hit_sequence  # noqa: E402


def run_once(model: Path, clip, tmp: Path, hz: float | None) -> dict[str, float]:  # noqa: ANN001
    """One engine session over ``clip``; the view drawn at ``hz`` (None: no view)."""
    from scrapl_live.live.dashboard import Dashboard
    from scrapl_live.live.engine import Engine
    from scrapl_live.live.realtime import JOB_PRIORITY
    from scrapl_live.live.stream import LiveStream

    engine = Engine(model, SR, BLOCK, threads=1, async_inference=True, job_priority=JOB_PRIORITY)
    name = f"bench-view-{uuid.uuid4().hex[:6]}"
    stream = LiveStream(engine, jack_client_name=name)
    view = None
    marks: dict[str, int] = {}

    def on_go() -> None:  # counters from the moment the hits start
        marks["x0"], marks["u0"] = stream.xruns, stream.underruns

    try:
        with stream:
            if hz is not None:
                console = {"path": os.devnull, "force_terminal": True, "width": 120, "height": 40}
                view = Dashboard(engine, stream, refresh_hz=hz, console_args=console).start()
            _, peer_xruns = _play_through(name, clip, tmp, on_go)
            if view is not None:
                view.stop()
    finally:
        engine.close()
    return {"xruns": stream.xruns - marks["x0"], "peer_xruns": peer_xruns,
            "underruns": stream.underruns - marks["u0"], "hits": engine.n_hits,
            "frames": 0 if view is None else view.frames}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=60.0)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--rate", type=float, default=8.0, help="hits per second")
    ap.add_argument("--hz", type=float, default=10.0, help="view refresh rate")
    ap.add_argument("--model", type=Path, default=None, help="tr808 encoder (default: shipped)")
    ap.add_argument("--no-server", action="store_true", help="use the running JACK server")
    args = ap.parse_args()
    import torch

    from scrapl_live.resources import shipped_model

    torch.set_num_threads(1)
    model = args.model or shipped_model("tr808")
    n = int(args.rate * args.seconds)
    clip, _ = hit_sequence(n, SR, seed=5, gap_s=(0.8 / args.rate, 1.2 / args.rate), levels_db=(-30.0, -3.0))
    totals = {False: dict.fromkeys(("xruns", "peer_xruns", "underruns", "hits", "frames"), 0), True: None}
    totals[True] = dict(totals[False])
    with jack_server(args.no_server) as (server, _), tempfile.TemporaryDirectory() as tmp:
        if not server:
            print("no JACK server: skipped")
            return
        print(f"{server}; {args.rounds} rounds of {args.seconds:.0f} s, {n} hits each; {_load()}")
        for r in range(args.rounds):
            for on in ((False, True) if r % 2 == 0 else (True, False)):
                res = run_once(model, clip, Path(tmp), args.hz if on else None)
                for k, v in res.items():
                    totals[on][k] += v
                print(f"  round {r + 1}, view {'on ' if on else 'off'}: " + ", ".join(
                    f"{k} {v}" for k, v in res.items()) + f"; {_load()}")
                time.sleep(1.0)
    for on in (False, True):
        t = totals[on]
        print(f"view {'on ' if on else 'off'} total: engine xruns {t['xruns']}, player (peer) xruns "
              f"{t['peer_xruns']}, engine underruns {t['underruns']}, hits {t['hits']}, frames {t['frames']}")


if __name__ == "__main__":
    main()
