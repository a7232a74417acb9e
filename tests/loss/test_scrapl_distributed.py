"""Two-process gloo run: every rank draws the same paths without communicating (each rank's global RNG
is seeded differently), and DDP + the optimizer-side P-Adam/P-SAGA transform keep the replicas equal."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

SCRIPT = textwrap.dedent(
    """
    import os
    import sys
    import torch
    import torch.distributed as dist
    import torch.multiprocessing as mp
    from torch.nn.parallel import DistributedDataParallel as DDP
    from scrapl_live.loss import SCRAPLLoss

    def worker(rank, world, out_dir, port):
        os.environ["MASTER_ADDR"], os.environ["MASTER_PORT"] = "127.0.0.1", str(port)
        dist.init_process_group("gloo", rank=rank, world_size=world)
        torch.set_num_threads(1)
        torch.manual_seed(0)
        net = DDP(torch.nn.Linear(8, 1024))
        torch.manual_seed(100 + rank)  # different global RNG per rank, as with per-rank data shuffling
        loss = SCRAPLLoss(1024, 4, 2, 1, 2, 1, use_rho_log1p=True, grad_mult=1.0, paths_per_step=2)
        loss.attach_params(net.parameters(), hooks=False)
        opt = torch.optim.SGD(net.parameters(), lr=1e-3)
        paths = []
        for _ in range(8):
            z, target = torch.randn(2, 8), torch.randn(2, 1, 1024)  # per-rank data
            opt.zero_grad()
            loss(net(z).unsqueeze(1), target).backward()  # DDP all-reduces the gradients here
            loss.transform_grads()
            opt.step()
            paths.append(loss.curr_path_indices)
        torch.save({"paths": paths, "weight": net.module.weight.detach().clone()},
                   os.path.join(out_dir, f"rank{rank}.pt"))
        dist.barrier()  # no rank tears its connections down while another still uses them
        dist.destroy_process_group()

    if __name__ == "__main__":
        mp.spawn(worker, args=(2, sys.argv[1], int(sys.argv[2])), nprocs=2, join=True)
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_same_paths_on_every_rank(tmp_path: Path) -> None:
    script = tmp_path / "ddp.py"
    script.write_text(SCRIPT)
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path), str(_free_port())], capture_output=True, text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    assert r0["paths"] == r1["paths"]
    assert len({p for pair in r0["paths"] for p in pair}) > 4
    torch.testing.assert_close(r0["weight"], r1["weight"], rtol=0, atol=0)
