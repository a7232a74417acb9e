"""Near-copy screen: a copy at any gain and offset is found, a different sound or class is not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scrapl_live.train.drumdata import FORMAT, _screen_reference
from scrapl_live.train.nearcopy import THRESHOLD, _spectrum, near_copies, similarity

SR = 44100


def _hit(hz: float, seed: int, n: int = 22050) -> np.ndarray:
    """A decaying tone with noise: (n,) float."""
    t = np.arange(n) / SR
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * hz * t) + 0.3 * rng.standard_normal(n)) * np.exp(-t * 20)


def _write(root: Path, rel: str, x: np.ndarray) -> dict:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    sf.write(root / rel, x.astype(np.float32), SR, subtype="FLOAT")
    return {"path": rel}


def test_similarity_is_one_for_a_shifted_scaled_copy_and_low_for_another_sound(tmp_path: Path) -> None:
    x = _hit(120, 0)
    _write(tmp_path, "a.wav", x)
    _write(tmp_path, "b.wav", 0.3 * np.concatenate([np.zeros(300), x]))
    _write(tmp_path, "c.wav", _hit(400, 1))
    n = 16384
    a, b, c = (_spectrum(tmp_path / f"{k}.wav", n) for k in "abc")
    head = x[:n]  # the copy's head lacks the original's last 300 samples of the compared span
    expected = np.sqrt(1 - np.sum(head[n - 300 :] ** 2) / np.sum(head**2))
    assert similarity(b, a) == pytest.approx(expected, abs=1e-4) and expected > THRESHOLD
    assert similarity(a, c) < 0.5


def test_near_copies_are_found_per_class_and_silence_is_ignored(tmp_path: Path) -> None:
    ref_root, root = tmp_path / "ref", tmp_path / "new"
    kick = _hit(60, 2)
    reference = [{**_write(ref_root, "kit/kick.wav", kick), "class": "kick"},
                 {**_write(ref_root, "kit/snare.wav", _hit(200, 3)), "class": "snare"}]  # fmt: skip
    candidates = [
        {**_write(root, "f/kick_copy.wav", 0.5 * kick), "class": "kick"},
        {**_write(root, "f/conga_copy.wav", kick), "class": "other"},  # a copy under another class
        {**_write(root, "f/kick_other.wav", _hit(90, 4)), "class": "kick"},
        {**_write(root, "f/silent.wav", np.zeros(4410)), "class": "kick"},
    ]
    found = near_copies(candidates, root, reference, ref_root)
    assert list(found) == ["f/kick_copy.wav"]
    score, match = found["f/kick_copy.wav"]
    assert score == pytest.approx(1.0, abs=1e-5) and match == "kit/kick.wav"


def test_a_screen_corpus_without_a_drums_manifest_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        _screen_reference(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match=f"not a {FORMAT} manifest"):
        _screen_reference(tmp_path)
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "files": [{"path": "x"}]}))
    assert _screen_reference(tmp_path) == [{"path": "x"}]


def test_data_drums_names_a_bad_screen_before_any_download(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from scrapl_live.cli import main

    assert main(["data", "drums", str(tmp_path / "out"), "--sources", "csound", "--screen",
                 str(tmp_path / "none")]) != 0  # fmt: skip
    err = capsys.readouterr().err
    assert "no manifest.json" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
