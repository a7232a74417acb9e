"""Run logs: CSV rows survive appends, new keys and truncation; the file reads back what was logged."""

from __future__ import annotations

import csv
from pathlib import Path

from scrapl_live.train.curves import CSVLog, RunLogs, plot_curves


def _read(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_csv_appends_lines_and_rewrites_header_for_new_keys(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    lg = CSVLog(path)
    lg.append({"step": 1, "loss": 0.5})
    lg.append({"step": 2, "loss": 0.25})
    assert _read(path) == (["step", "loss"], [{"step": "1", "loss": "0.5"}, {"step": "2", "loss": "0.25"}])
    lg.append({"step": 3, "loss": 0.125, "lr": 0.001})  # a new key: header gains it, old rows keep blanks
    keys, rows = _read(path)
    assert keys == ["step", "loss", "lr"]
    assert [r["lr"] for r in rows] == ["", "", "0.001"]
    lg.append({"step": 4, "loss": 0.0625})  # a row without the new key is appended as a line
    keys, rows = _read(path)
    assert keys == ["step", "loss", "lr"] and rows[-1] == {"step": "4", "loss": "0.0625", "lr": ""}


def test_csv_reopened_truncated_and_continued_equals_one_log(tmp_path: Path) -> None:
    """A process that logged to step 5 and died, then a resume from step 3: rows 4, 5 are logged once."""
    rows = [{"step": s, "loss": 1.0 / s} for s in range(1, 6)]
    first = CSVLog(tmp_path / "a.csv")
    for r in rows:
        first.append(r)
    resumed = CSVLog(tmp_path / "a.csv")
    resumed.truncate(3)
    for r in rows[3:]:
        resumed.append(r)
    whole = CSVLog(tmp_path / "b.csv")
    for r in rows:
        whole.append(r)
    assert (tmp_path / "a.csv").read_bytes() == (tmp_path / "b.csv").read_bytes()
    assert [int(r["step"]) for r in CSVLog(tmp_path / "a.csv").rows] == [1, 2, 3, 4, 5]


def test_run_logs_split_train_and_val_and_plot(tmp_path: Path) -> None:
    logs = RunLogs(tmp_path, 0)
    for s in range(1, 4):
        logs.append({"step": s, "loss": 1.0 / s}, "train")
    logs.append({"step": 3, "val_theta_l1": 0.2}, "val")
    logs.close()
    assert [r["step"] for r in _read(tmp_path / "train.csv")[1]] == ["1", "2", "3"]
    assert _read(tmp_path / "val.csv") == (["step", "val_theta_l1"], [{"step": "3", "val_theta_l1": "0.2"}])
    png = plot_curves(logs.train_csv.rows, logs.val_csv.rows, tmp_path / "c.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
