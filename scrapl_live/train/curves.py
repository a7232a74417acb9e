"""Run logs: a CSV row per logged step/epoch, the same scalars for TensorBoard when it is installed, and
PNG learning curves (matplotlib, Agg backend)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any


class CSVLog:
    """Append rows to ``path``; the header is the first row's keys plus any later new keys (the file is
    rewritten only when a row brings a new key, otherwise each row is appended as one line)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.rows: list[dict[str, float | int | str]] = []
        self._keys: list[str] = []
        if self.path.is_file():
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.rows = list(reader)
                self._keys = list(reader.fieldnames or [])

    def truncate(self, step: int) -> None:
        """Drop rows after ``step`` (a resumed run re-logs them)."""
        self.rows = [r for r in self.rows if int(r["step"]) <= step]
        self._write()

    def append(self, row: dict[str, float | int | str]) -> None:
        self.rows.append(row)
        if any(k not in self._keys for k in row) or not self.path.is_file():
            self._write()
            return
        with open(self.path, "a", newline="") as f:
            csv.DictWriter(f, fieldnames=self._keys).writerow(row)

    def _write(self) -> None:
        keys: list[str] = []
        for r in self.rows:
            keys += [k for k in r if k not in keys]
        self._keys = keys
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=keys)
            w.writeheader()
            w.writerows(self.rows)


class TensorBoardLog:
    """The numeric fields of each logged row as TensorBoard scalars ``prefix/field`` at the row's step."""

    def __init__(self, writer: Any) -> None:
        self.writer = writer

    @classmethod
    def open(cls, log_dir: str | Path, first_step: int) -> TensorBoardLog | None:
        """A log in ``log_dir`` whose events from ``first_step`` on replace earlier ones (a resumed run
        re-logs them, as :meth:`CSVLog.truncate`); None when the ``tensorboard`` package is missing."""
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:  # optional: torch raises ImportError when tensorboard is not installed
            return None
        return cls(SummaryWriter(str(log_dir), purge_step=first_step))

    def append(self, row: dict[str, float | int | str], prefix: str) -> None:
        step = int(row["step"])
        for key, value in row.items():
            if key != "step" and isinstance(value, int | float):
                self.writer.add_scalar(f"{prefix}/{key}", value, step)

    def close(self) -> None:
        self.writer.close()


class RunLogs:
    """A run's logs from ``step`` on: ``train.csv`` and ``val.csv`` in ``out`` and the same scalars under
    ``out/tensorboard`` (when installed); rows after ``step`` left by an interrupted process are dropped."""

    def __init__(self, out: str | Path, step: int) -> None:
        out = Path(out)
        self.train_csv, self.val_csv = CSVLog(out / "train.csv"), CSVLog(out / "val.csv")
        for lg in (self.train_csv, self.val_csv):
            lg.truncate(step)
        self.tensorboard = TensorBoardLog.open(out / "tensorboard", step + 1)

    def append(self, row: dict[str, float | int | str], kind: str) -> None:
        """Log ``row`` (with its ``step``) as a ``train`` or ``val`` record."""
        (self.train_csv if kind == "train" else self.val_csv).append(row)
        if self.tensorboard is not None:
            self.tensorboard.append(row, kind)

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def plot_curves(train_rows: list[dict], val_rows: list[dict], path: str | Path, title: str) -> Path:
    """Training loss and validation metric(s) against step, two panels, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(10, 3.6))
    if train_rows:
        ax0.plot([int(r["step"]) for r in train_rows], [float(r["loss"]) for r in train_rows], lw=0.8)
    ax0.set(xlabel="step", ylabel="training loss", title=title)
    ax0.set_yscale("log")
    keys = sorted({k for r in val_rows for k in r if k.startswith("val_")})
    for k in keys:
        pts = [(int(r["step"]), float(r[k])) for r in val_rows if r.get(k) not in (None, "")]
        ax1.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=k)
    ax1.set(xlabel="step", ylabel="validation", title="validation")
    if keys:
        ax1.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
