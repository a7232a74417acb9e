"""Live-engine benchmark: encoder latency, engine CPU, latency parts, and a real-time JACK run.

    python benchmarks/bench_live.py [--seconds 300] [--rate 8] [--model models/tr808.onnx]

1. Encoder p50/p99 through onnxruntime (1 thread) vs the same weights in eager torch (peer, same run).
2. Engine CPU in file mode at 48 kHz / 256-frame blocks: idle (noise only) and under load (8 hits/s),
   as a fraction of one core, i.e. CPU seconds per second of audio.
3. Latency parts (buffering, window, detection, inference, render) from the loaded run.
4. With a JACK server: the engine on a real duplex stream for --seconds with 8 hits/s played into it by
   a second PortAudio client that records the output; xruns of the engine's stream vs the player's,
   engine underruns (blocks the engine delivered late), and the
   end-to-end onset→sound latency measured on the recording (minus the analysis window W).
   Peer for xruns: the player's own stream (a trivial callback on the same JACK graph, same period):
   JACK xruns hit every client, so engine/peer ≈ 1 means the engine adds none of its own.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scrapl_live.control.devices import jack_server_running  # noqa: E402
from scrapl_live.live.engine import Engine  # noqa: E402
from scrapl_live.live.model import load_model  # noqa: E402
from scrapl_live.live.offline import run_signal  # noqa: E402
from scrapl_live.live.onset import OnsetDetector  # noqa: E402
from tests.live.signals import hit_sequence  # noqa: E402

SR, BLOCK = 48000, 256


def _model(path: str | None, tmp: Path) -> Path:
    if path:
        return Path(path)
    shipped = ROOT / "models" / "tr808.onnx"
    if shipped.is_file():
        return shipped
    from scrapl_live.encoder.encoder import Encoder
    from scrapl_live.encoder.export import export_onnx
    from scrapl_live.encoder.presets import encoder_config

    print("no shipped models/tr808.onnx: exporting an untrained 'live'-size encoder (same cost)")
    torch.manual_seed(0)
    export_onnx(Encoder(encoder_config("tr808", "live")), tmp / "tr808.onnx")
    return tmp / "tr808.onnx"


def bench_encoder(model_path: Path, n: int = 300) -> None:
    from scrapl_live.encoder.export import onnx_to_torch

    model = load_model(model_path, threads=1)
    torch_enc = onnx_to_torch(model_path).eval()
    rng = np.random.default_rng(0)
    wins = (0.1 * rng.standard_normal((n, model.window))).astype(np.float32)
    times = {"onnxruntime": [], "torch eager": []}
    for w in wins:
        t0 = time.perf_counter()
        model.infer(w)
        t1 = time.perf_counter()
        with torch.no_grad():
            torch_enc(torch.from_numpy(w[None]))
        t2 = time.perf_counter()
        times["onnxruntime"].append(t1 - t0)
        times["torch eager"].append(t2 - t1)
    p = {k: (1e3 * np.percentile(v, 50), 1e3 * np.percentile(v, 99)) for k, v in times.items()}
    print(f"\n[1] encoder {model_path.name} (W={model.window} @ {model.sample_rate} Hz), 1 thread, n={n}")
    for k, (p50, p99) in p.items():
        print(f"    {k:12s} p50 {p50:7.3f} ms   p99 {p99:7.3f} ms")
    print(f"    onnxruntime / torch p50 ratio: {p['onnxruntime'][0] / p['torch eager'][0]:.2f}")


def bench_cpu(model_path: Path, seconds: float = 30.0) -> Engine:
    rng = np.random.default_rng(1)
    idle = (rng.standard_normal(int(seconds * SR)) * 1e-3).astype(np.float32)
    n_hits = int(8 * seconds)
    loaded, _ = hit_sequence(n_hits, SR, seed=2, gap_s=(0.1, 0.15), levels_db=(-30.0, -3.0))
    print(f"\n[2] engine CPU, file mode, {SR} Hz / {BLOCK}-frame blocks (fraction of one core)")
    engine = None
    for name, x in (("idle (noise)", idle), (f"load ({n_hits / (loaded.size / SR):.1f} hits/s)", loaded)):
        engine = Engine(model_path, SR, BLOCK, threads=1)
        c0 = time.process_time()
        run_signal(engine, x, tail_s=0.0)
        cpu = time.process_time() - c0
        print(f"    {name:22s} {100 * cpu / (x.size / SR):6.2f} % of a core  ({len(engine.hits)} hits)")
        engine.close()
    return engine


def report_latency(engine: Engine) -> dict[str, float]:
    rep = engine.latency.report(SR, BLOCK, engine.window)
    print(f"\n[3] latency parts (p50 over {int(rep['n'])} hits, ms)")
    for k in ("buffering_ms", "window_ms", "detection_ms", "inference_ms", "inference_p99_ms", "render_ms"):
        print(f"    {k.removesuffix('_ms'):15s} {rep[k]:8.2f}")
    excl = rep["buffering_ms"] + rep["detection_ms"] + rep["inference_ms"] + rep["render_ms"]
    print(f"    onset→sound excl. W (buffering+detection+inference+render): {excl:.2f} ms "
          f"(target ≤ 2 buffers + 3 ms = {2e3 * BLOCK / SR + 3:.2f} ms)")
    return rep


def bench_jack(model_path: Path, seconds: float, rate: float, tmp: Path) -> None:
    from scrapl_live.live.stream import LiveStream

    if not jack_server_running():
        print("\n[4] skipped: no JACK server (jackd --no-realtime -d dummy -r 48000 -p 256 &)")
        return
    tag = uuid.uuid4().hex[:6]
    eng, ply = f"bench-eng-{tag}", f"bench-ply-{tag}"
    n_hits = int(rate * seconds)
    clip, onsets = hit_sequence(n_hits, SR, seed=5, gap_s=(0.8 / rate, 1.2 / rate), levels_db=(-30.0, -3.0))
    np.save(tmp / "clip.npy", clip)
    engine = Engine(model_path, SR, BLOCK, threads=1, async_inference=True)
    stream = LiveStream(engine, jack_client_name=eng)
    player_cmd = [sys.executable, str(ROOT / "tests/live/jack_player.py"), ply, str(tmp / "clip.npy"),
                  str(tmp / "rec.npy"), str(tmp / "go"), str(clip.size / SR)]
    player = subprocess.Popen(player_cmd)
    with stream:
        for client in (eng, ply):
            while not any(p.startswith(client + ":") for p in subprocess.run(
                    ["jack_lsp"], capture_output=True, text=True).stdout.split("\n")):
                time.sleep(0.1)
        for src, dst in ((ply, eng), (eng, ply)):
            for peer in ("system:capture_1", "system:playback_1"):
                subprocess.run(["jack_disconnect", peer, f"{dst}:in_0"], capture_output=True)
                subprocess.run(["jack_disconnect", f"{src}:out_0", peer], capture_output=True)
            subprocess.run(["jack_connect", f"{src}:out_0", f"{dst}:in_0"], check=True)
        x0 = stream.xruns
        (tmp / "go").touch()
        player.wait(timeout=seconds * 3 + 120)
        xruns = stream.xruns - x0
    peer_xruns = int((tmp / "rec.xruns").read_text())
    engine.close()
    rec = np.load(tmp / "rec.npy")
    det = OnsetDetector(SR)
    out_onsets = np.array([o for i in range(0, rec.size, BLOCK) for o in det.process(rec[i : i + BLOCK])])
    lat = []
    for t in onsets:
        after = out_onsets[(out_onsets > t) & (out_onsets < t + int(0.3 * SR))]
        if after.size:
            lat.append((after[0] - t) / SR * 1e3)
    w_ms = 1e3 * engine.window / SR
    print(f"\n[4] JACK real-time run: {seconds:.0f} s, {n_hits} hits ({rate:g}/s), {SR} Hz / {BLOCK} frames")
    print(f"    engine stream xruns {xruns}  | player's (trivial callback, peer) xruns {peer_xruns}  "
          f"(ratio {xruns / max(peer_xruns, 1):.2f}); engine underruns {stream.underruns}, "
          f"errors {engine.errors}")
    if lat:
        lat_arr = np.array(lat)
        print(f"    end-to-end onset→sound (recorded loopback, {len(lat)}/{n_hits} hits): "
              f"p50 {np.median(lat_arr):.1f} ms, p95 {np.percentile(lat_arr, 95):.1f} ms; minus W "
              f"({w_ms:.1f} ms): p50 {np.median(lat_arr) - w_ms:.1f} ms "
              "(includes the player's own output+input buffering)")
    report_latency(engine)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=300.0, help="length of the JACK real-time run")
    ap.add_argument("--rate", type=float, default=8.0, help="hits per second in the JACK run")
    ap.add_argument("--model", default=None,
                    help="tr808 encoder (default: models/tr808.onnx, else an untrained one)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        model = _model(args.model, tmp)
        bench_encoder(model)
        report_latency(bench_cpu(model))
        bench_jack(model, args.seconds, args.rate, tmp)


if __name__ == "__main__":
    main()
