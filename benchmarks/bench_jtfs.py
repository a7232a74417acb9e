"""JTFS speed and memory: scrapl-live's JTFS vs the scrapl-loss reference, measured in the same run.

Granular config (N=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8), 2 threads.  Each measurement
runs in a fresh subprocess so its peak RSS (ru_maxrss) is its own; ours and the reference alternate for
--rounds rounds and the fastest repeat counts (robust to other load on a shared machine).  Prints times
(minimum over repeats and rounds), peak RSS and ratios:
  - first-order scalogram forward (all 86 bands),
  - one path forward+backward (median over a spread of paths),
  - full JTFS forward+backward (all paths incl. first order; --full-batch, default 4).
Usage: python benchmarks/bench_jtfs.py [--batch 4] [--full-batch 4] [--repeats 3] [--skip-full]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.reference import run_reference  # noqa: E402

CFG = dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)
PATHS = list(range(0, 315, 40))

_COMMON = """
import resource, statistics, time, torch
torch.set_num_threads(2)
torch.manual_seed(0)
def timed(fn, repeats):
    fn()
    ts = []
    for _ in range(repeats):
        t = time.perf_counter(); fn(); ts.append(time.perf_counter() - t)
    return min(ts)
def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

_OURS = {
    "scalogram": """
jtfs = JTFS(**cfg); x = torch.randn(B, cfg["shape"])
with torch.no_grad():
    result = timed(lambda: jtfs.scalogram(x, 86), R)
""",
    "path": """
jtfs = JTFS(**cfg); x = torch.randn(B, cfg["shape"], requires_grad=True)
def step(p):
    jtfs.paths(x, [p])[0].sum().backward()
result = statistics.median(timed(lambda: step(p), R) for p in paths)
""",
    "full": """
jtfs = JTFS(**cfg); x = torch.randn(B, cfg["shape"], requires_grad=True)
result = timed(lambda: jtfs(x).sum().backward(), R)
""",
}

_REF = {
    "scalogram": """
j = SCRAPLLoss(**cfg).jtfs; j.load_filters(); b = j.backend; x = torch.randn(B, cfg["shape"])
def first_order():
    u0 = b.rfft(b.pad(b.reshape_input(x, (cfg["shape"],)), pad_left=j.pad_left, pad_right=j.pad_right))
    for psi in j.psi1_f:
        k = min(psi["j"], j.log2_stride)
        u = b.ifft(b.subsample_fourier(b.cdgmm(u0, psi["levels"][0]), 2 ** k))
        b.rfft(b.modulus(u))
with torch.no_grad():
    result = timed(first_order, R)
""",
    "path": """
loss = SCRAPLLoss(**cfg); x = torch.randn(B, cfg["shape"], requires_grad=True)
def step(p):
    loss.jtfs.scattering_singlepath(x, *loss.scrapl_keys[p])["coef"].sum().backward()
result = statistics.median(timed(lambda: step(p), R) for p in paths)
""",
    "full": """
j = SCRAPLLoss(**cfg).jtfs; x = torch.randn(B, cfg["shape"], requires_grad=True)
result = timed(lambda: j.scattering(x).sum().backward(), R)
""",
}


def _ours(task: str, batch: int, repeats: int) -> tuple[float, float]:
    """Run one of our measurements in a fresh interpreter; returns (seconds, peak RSS MB)."""
    code = (
        _COMMON
        + "from scrapl_live.scattering import JTFS\n"
        + f"cfg, B, R, paths = {CFG!r}, {batch}, {repeats}, {PATHS!r}\n"
        + textwrap.dedent(_OURS[task])
        + "print(__import__('json').dumps([result, rss_mb()]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    sec, rss = json.loads(out.stdout.strip().splitlines()[-1])
    return sec, rss


def _reference(task: str, batch: int, repeats: int) -> tuple[float, float]:
    """Same measurement with scrapl-loss in its own child process."""
    code = (
        _COMMON.replace("torch.set_num_threads(2)\n", "")
        + f"cfg, B, R, paths = {CFG!r}, {batch}, {repeats}, {PATHS!r}\n"
        + textwrap.dedent(_REF[task])
        + "outputs['r'] = (result, rss_mb())\n"
    )
    return run_reference(code, threads=2, timeout=3600)["r"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--full-batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument(
        "--skip-full", action="store_true", help="skip the (slow, ~14 GB for the reference) full JTFS"
    )
    args = ap.parse_args()
    tasks = [("scalogram", args.batch), ("path", args.batch)]
    if not args.skip_full:
        tasks.append(("full", args.full_batch))
    print(f"granular config {CFG}, 2 threads; paths {PATHS}")
    print(f"{'measurement':<34}{'ours':>16}{'reference':>16}{'speed-up':>10}{'memory':>9}")
    for task, batch in tasks:
        repeats = 1 if task == "full" else args.repeats
        runs = [(_ours(task, batch, repeats), _reference(task, batch, repeats)) for _ in range(args.rounds)]
        t_ours, m_ours = min(r[0][0] for r in runs), max(r[0][1] for r in runs)
        t_ref, m_ref = min(r[1][0] for r in runs), max(r[1][1] for r in runs)
        label = {
            "scalogram": "scalogram fwd (86 bands)",
            "path": "one path fwd+bwd (median)",
            "full": "full JTFS fwd+bwd",
        }[task] + f", B={batch}"
        print(
            f"{label:<34}{t_ours * 1e3:>9.0f} ms{t_ref * 1e3:>13.0f} ms{t_ref / t_ours:>9.2f}x"
            f"{m_ours / m_ref:>8.2f}x"
        )
        print(f"{'  peak RSS':<34}{m_ours:>9.0f} MB{m_ref:>13.0f} MB")


if __name__ == "__main__":
    main()
