"""``scrapl-live finetune run`` checks its model and store before any worker starts; the supervisor gives
up on a worker that fails the same way again and again."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrapl_live.cli import main
from scrapl_live.finetune.store import CaptureStore
from tests.finetune.helpers import export_start_model


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return export_start_model(tmp_path_factory.mktemp("model") / "tr808.onnx")


def _store(root: Path, n: int, synth: str | None) -> Path:
    """A capture store of ``n`` noise bursts, their metadata naming ``synth`` as ``finetune add`` does."""
    store = CaptureStore(root, max_bytes=None)
    rng = np.random.default_rng(0)
    for i in range(n):
        store.add((0.3 * rng.standard_normal(4410)).astype(np.float32), 44100, None,
                  {"synth": synth, "i": i})
    return root


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    rc = main(["finetune", "run", *argv])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err.strip()


def test_bad_model_empty_store_and_other_synth_fail_before_the_worker(
    model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _store(tmp_path / "good", 6, "tr808")
    out = tmp_path / "out"
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model.read_bytes()[:500])
    corrupt.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    rc, err = _run(["--model", str(corrupt), "--store", str(good), "--out-dir", str(out)], capsys)
    assert rc == 1 and err.count("\n") == 0 and f"--model {corrupt} cannot be loaded" in err

    empty = tmp_path / "empty"
    empty.mkdir()
    argv = ["--model", str(model), "--store", str(empty), "--out-dir", str(out), "--steps", "5"]
    rc, err = _run(argv, capsys)
    assert rc == 1 and f"--store {empty} holds 0 sample(s)" in err and "finetune add" in err

    granular = _store(tmp_path / "granular", 6, "granular")
    rc, err = _run(["--model", str(model), "--store", str(granular), "--out-dir", str(out)], capsys)
    assert rc == 1 and "6 with a granular model" in err and "is a tr808 encoder" in err

    rc, err = _run(["--model", str(tmp_path), "--store", str(good), "--out-dir", str(out)], capsys)
    assert rc == 1 and "is a folder" in err
    rc, err = _run(["--model", str(model), "--store", str(tmp_path / "none"), "--out-dir", str(out)], capsys)
    assert rc == 1 and "capture store folder not found" in err
    assert not out.exists()  # no worker ever ran


@pytest.mark.slow
def test_supervisor_gives_up_after_identical_failures(model: Path, tmp_path: Path) -> None:
    from scrapl_live.finetune.config import FinetuneConfig
    from scrapl_live.finetune.supervisor import Supervisor

    corrupt = tmp_path / "corrupt.onnx"  # what the CLI refuses; a live session's model may still go bad
    corrupt.write_bytes(model.read_bytes()[:500])
    corrupt.with_suffix(".json").write_text(model.with_suffix(".json").read_text())
    cfg = FinetuneConfig(model=str(corrupt), store=str(_store(tmp_path / "s", 6, "tr808")),
                         out_dir=str(tmp_path / "out"), max_steps=2)
    sup = Supervisor(cfg, backoff_s=0.1, max_backoff_s=0.2, max_identical=2).start()
    try:
        assert sup.wait(600)
    finally:
        sup.stop()
    assert sup.starts == 2 and not sup.finished and len(sup.crashes) == 2
    first = sup.crashes[0].error
    assert first is not None and "corrupt.onnx" in first and sup.crashes[1].error == first
    assert sup.gave_up == f"fine-tune worker failed 2 times in a row with the same error, giving up: {first}"


def test_without_model_the_store_s_synth_picks_the_shipped_model(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from scrapl_live.finetune.cli import shipped_start_model, store_synths
    from scrapl_live.resources import shipped_model

    pick = lambda store: shipped_start_model(store_synths(store))  # noqa: E731
    assert pick(_store(tmp_path / "g", 3, "granular")) == shipped_model("granular")
    assert pick(_store(tmp_path / "u", 1, None)) == shipped_model("tr808")
    assert pick(tmp_path / "missing") == shipped_model("tr808")
    out = tmp_path / "out"
    rc, err = _run(["--store", str(tmp_path / "g"), "--out-dir", str(out)], capsys)
    assert rc == 1 and "holds 3 sample(s)" in err and f"--model {shipped_model('granular')}" in err
    assert not out.exists()
