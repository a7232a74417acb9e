"""Weight EMA: closed-form average, temporary swap, state round trip; in the trainer: passive (raw
trajectory unchanged), best.pt holds the average, switched on at resume, exact resume."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from scrapl_live.train.checkpoint import load_checkpoint
from scrapl_live.train.config import TrainConfig
from scrapl_live.train.curves import CSVLog
from scrapl_live.train.ema import WeightEMA


def _snapshot(module: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def test_average_is_the_running_mean_then_exponential() -> None:
    torch.manual_seed(0)
    lin = nn.Linear(3, 2)
    lin.register_buffer("count", torch.tensor(0))
    decay, n_steps = 0.75, 9  # window 1/(1-decay) = 4: plain mean for the first 3 updates, then ×0.75
    ema = WeightEMA(lin, decay)
    ws = [lin.weight.detach().clone().double()]
    for n in range(1, n_steps + 1):
        with torch.no_grad():
            lin.weight.copy_(torch.randn(2, 3))
            lin.count.fill_(n)
        ws.append(lin.weight.detach().clone().double())
        ema.update(lin)
        if n <= 3:  # n/(n+1) <= 0.75: the mean of every weight so far
            assert torch.allclose(ema.shadow["weight"].double(), torch.stack(ws).mean(0), atol=1e-6)
    head = torch.stack(ws[:4]).mean(0)  # the mean after 3 updates, then 6 exponential ones
    tail = sum((1 - decay) * decay ** (n_steps - j) * ws[j] for j in range(4, n_steps + 1))
    assert torch.allclose(ema.shadow["weight"].double(), decay ** (n_steps - 3) * head + tail, atol=1e-6)
    assert int(ema.shadow["count"]) == n_steps  # integer buffers are copied, not averaged

    raw = _snapshot(lin)
    with ema.applied(lin) as m:
        assert torch.equal(m.weight, ema.shadow["weight"])
    assert all(torch.equal(v, raw[k]) for k, v in lin.state_dict().items())
    with pytest.raises(RuntimeError, match="inside"), ema.applied(lin):
        raise RuntimeError("inside")
    assert torch.equal(lin.weight, raw["weight"])  # restored after an error too

    other = WeightEMA(nn.Linear(3, 2), decay)
    other.shadow["count"] = torch.tensor(0)
    other.load_state_dict(ema.state_dict())
    assert other.updates == n_steps and torch.equal(other.shadow["weight"], ema.shadow["weight"])
    with pytest.raises(ValueError, match="decay"):
        WeightEMA(lin, 0.5).load_state_dict(ema.state_dict())
    with pytest.raises(ValueError, match="other tensors"):
        WeightEMA(nn.Linear(3, 2), decay).load_state_dict(ema.state_dict())
    for bad in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="decay"):
            WeightEMA(lin, bad)


def _run(tmp_path, name: str, stop_at: int | None = None, **extra):
    """A small P-loss run (3 steps, validated at 2 and 3) recording the raw weights after every step."""
    from scrapl_live.train.trainer import Trainer

    torch.set_num_threads(1)
    cfg = TrainConfig(synth="granular", loss="ploss", batch_size=2, max_steps=3, epoch_steps=2, val_items=2,
                      dropout=0.0, out_dir=str(tmp_path / name), **extra)
    tr = Trainer(cfg)
    snaps = [_snapshot(tr.encoder)]
    train_step = tr.train_step

    def step(s: int) -> dict[str, float]:
        out = train_step(s)
        snaps.append(_snapshot(tr.encoder))
        return out

    tr.train_step = step
    tr.fit(progress=False, stop_at=stop_at)
    return tr, snaps


def _mean(snaps: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    return {k: torch.stack([s[k] for s in snaps]).mean(0) for k in snaps[0]}


def _close(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_trainer_average_is_passive_and_lands_in_best_pt(tmp_path) -> None:
    plain, raw = _run(tmp_path, "plain")
    avg, raw_avg = _run(tmp_path, "ema", ema_decay=0.9)  # 3 updates inside the window: the plain mean
    assert all(torch.equal(a[k], b[k]) for a, b in zip(raw, raw_avg, strict=True) for k in a)
    last = load_checkpoint(tmp_path / "ema" / "last.pt")
    assert all(torch.equal(v, raw[3][k]) for k, v in last["encoder_state"].items())  # resumable raw weights
    assert _close(last["ema"]["shadow"], _mean(raw[:4]))
    best = load_checkpoint(tmp_path / "ema" / "best.pt")
    step = avg.best["step"]
    assert _close(best["encoder_state"], _mean(raw[: step + 1]))
    assert best["card"]["training"]["weights"] == "moving average (decay 0.9) from step 0"
    plain_rows = CSVLog(tmp_path / "plain" / "val.csv").rows
    plain_val = {int(r["step"]): float(r["val_theta_l1"]) for r in plain_rows}
    ema_rows = CSVLog(tmp_path / "ema" / "val.csv").rows
    assert {int(r["step"]): float(r["val_raw_theta_l1"]) for r in ema_rows} == plain_val
    with avg.ema.applied(avg.encoder):  # the logged value is the average's
        assert avg.measure()["val_theta_l1"] == pytest.approx(float(ema_rows[-1]["val_theta_l1"]), rel=1e-5)
    assert "ema" not in load_checkpoint(tmp_path / "plain" / "last.pt")

    # switched on when resuming a run that had none: the average starts at the resumed weights
    _run(tmp_path, "late", stop_at=2)
    late, _ = _run(tmp_path, "late", ema_decay=0.9)
    assert late.ema.start == 2 and late.ema.updates == 1
    late_last = load_checkpoint(tmp_path / "late" / "last.pt")
    assert all(torch.equal(v, raw[3][k]) for k, v in late_last["encoder_state"].items())
    assert _close(late_last["ema"]["shadow"], _mean(raw[2:4]))

    # a paused and resumed run keeps its average exactly; the decay cannot change or go away
    _run(tmp_path, "split", stop_at=2, ema_decay=0.9)
    _run(tmp_path, "split", ema_decay=0.9)
    split = load_checkpoint(tmp_path / "split" / "last.pt")["ema"]
    assert split["updates"] == 3
    assert all(torch.equal(v, last["ema"]["shadow"][k]) for k, v in split["shadow"].items())
    for decay in (0.5, None):
        with pytest.raises(ValueError, match="ema_decay"):
            _run(tmp_path, "ema", ema_decay=decay)
    with pytest.raises(ValueError, match="ema_decay"):
        TrainConfig(ema_decay=1.0)
