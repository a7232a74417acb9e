"""The shipped drum-class head in the engine: found through the tr808 card, labels in file mode and at
every live stage (from the first window on), none from a window shorter than the shortest head; the
PNG shows the classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from scrapl_live.live.classify import CLASSES, classifier_for, load_classifier
from scrapl_live.live.engine import Engine
from scrapl_live.live.model import load_model
from scrapl_live.live.offline import run_signal
from scrapl_live.live.plot import hit_label, plot_comparison

MODELS = Path(__file__).resolve().parents[2] / "models"
SR = 44100


def _kick(n: int = 22050) -> np.ndarray:
    t = np.arange(n) / SR
    f = 50 + 100 * np.exp(-t / 0.03)
    return (0.8 * np.sin(2 * np.pi * np.cumsum(f) / SR) * np.exp(-t / 0.3)).astype(np.float32)


def _pattern() -> np.ndarray:
    x = np.zeros(3 * SR, np.float32)
    for k in range(3):
        x[k * SR + 2000 : k * SR + 2000 + 22050] += _kick()
    return x


def test_the_tr808_card_names_the_shipped_head() -> None:
    clf = classifier_for(load_model(MODELS / "tr808.onnx"))
    assert clf is not None and clf.window == clf.card["window"] and clf.card["classes"] == list(CLASSES)
    assert classifier_for(load_model(MODELS / "granular.onnx")) is None


def test_each_head_runs_alone_and_answers_as_the_whole_bank() -> None:
    """One session per head (cut from the file's graph) gives what the whole bank's session gives for
    the head the input length picks."""
    from scrapl_live.encoder.card import ort_session
    from scrapl_live.live.classify import INPUT_NAME, head_models

    clf = load_classifier(MODELS / "drumclass.onnx")
    bank = ort_session(MODELS / "drumclass.onnx")
    heads = head_models(MODELS / "drumclass.onnx", len(clf.windows))
    assert all(len(h) < (MODELS / "drumclass.onnx").stat().st_size for h in heads)  # each holds its own part
    rng = np.random.default_rng(3)
    for n in (clf.windows[0] - 1, *clf.windows, clf.windows[1] + 7, clf.window + 100):
        x = (0.3 * rng.standard_normal(n)).astype(np.float32)
        padded = np.zeros((1, clf.window), np.float32)
        padded[0, : min(n, clf.window)] = x[: clf.window]
        k = max(0, int(np.searchsorted(clf.windows, min(n, clf.window), side="right")) - 1)
        expected = bank.run(None, {INPUT_NAME: padded})[0][0, k]
        np.testing.assert_allclose(clf.probabilities(x, clf.sample_rate), expected, atol=1e-6)


def test_a_graph_that_is_not_a_bank_of_heads_is_refused(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from scrapl_live.live.classify import head_models

    x = helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["audio"], ["probs"])], "g", [x], [y])
    onnx.save(helper.make_model(graph), str(tmp_path / "relu.onnx"))
    with pytest.raises(ValueError, match="not a stack of 5 heads"):
        head_models(tmp_path / "relu.onnx", 5)


@pytest.mark.parametrize(("name", "reason"), [("", "must be a file name"), (7, "must be a file name"),
                                            ("missing.onnx", "classifier not found")])
def test_a_card_naming_an_unusable_head_is_one_error_naming_both_files(tmp_path: Path, name: object,
                                                                      reason: str) -> None:
    from types import SimpleNamespace

    model = SimpleNamespace(path=tmp_path / "m.onnx", encoder=SimpleNamespace(card={"classifier": name}))
    with pytest.raises(ValueError, match=rf"model .*m\.onnx names classifier .*cannot be used: .*{reason}"):
        classifier_for(model)


class _Events:
    """Hit sink recording every prediction the engine hands out."""

    def __init__(self) -> None:
        self.events: list = []

    def on_hit(self, event) -> None:  # noqa: ANN001 - HitEvent
        self.events.append(event)

    on_refine = on_hit


def test_file_mode_labels_every_hit() -> None:
    offline = Engine(MODELS / "tr808.onnx", SR, 256, lookahead=True, play_voices=False)
    run_signal(offline, _pattern())
    hits = list(offline.recent_hits)
    assert len(hits) == 3
    assert all(h.label == "kick" and 0.0 < h.confidence <= 1.0 for h in hits)


@pytest.mark.parametrize("first_window", [128, 256, 1024])
def test_live_hits_are_classified_from_the_first_window_and_at_each_refinement(first_window: int) -> None:
    sink = _Events()
    live = Engine(MODELS / "tr808.onnx", SR, 256, sinks=[sink], play_voices=False, first_window=first_window)
    stages = live.strategy.stages(live.slot.current)
    assert stages[0] == (first_window, "both") and len(stages) > 1
    x = _pattern()
    run_signal(live, x)
    assert [e.stage for e in sink.events] == list(range(len(stages))) * 3
    clf = load_classifier(MODELS / "drumclass.onnx")  # a second session: the expectation
    for e in sink.events:  # each label is the head's answer on exactly the window heard at that stage
        label, confidence = clf.classify(x[e.t_samples : e.t_samples + stages[e.stage][0]], SR)
        assert e.label == label and abs(e.confidence - confidence) < 1e-5
    assert {e.label for e in sink.events if e.stage == len(stages) - 1} == {"kick"}


def test_the_longest_head_has_a_stage_of_its_own() -> None:
    """With encoder windows 256 → 1024 → 4096 and heads up to 2048, the 2048 head answers at 2048 samples
    (class only, θ̂ kept) and the 4096 encoder stage does not run a head again."""
    sink = _Events()
    live = Engine(MODELS / "tr808.onnx", SR, 256, sinks=[sink], play_voices=False)
    assert live.strategy.schedule(live.slot.current) == [256, 1024, 4096]
    assert live.strategy.stages(live.slot.current) == [(256, "both"), (1024, "both"), (2048, "label"),
                                                      (4096, "theta")]
    calls: list[int] = []
    clf = live.classifier
    probabilities = clf.probabilities
    clf.probabilities = lambda w, sr: calls.append(len(w)) or probabilities(w, sr)  # type: ignore[method-assign]
    run_signal(live, _pattern())
    assert calls == [256, 1024, 2048] * 3
    by_stage = {s: [e for e in sink.events if e.stage == s] for s in range(4)}
    for one, two in zip(by_stage[1], by_stage[2], strict=True):
        np.testing.assert_array_equal(one.theta, two.theta)
    for two, three in zip(by_stage[2], by_stage[3], strict=True):
        assert (two.label, two.confidence) == (three.label, three.confidence) and three.final


def test_a_window_shorter_than_the_shortest_head_is_not_guessed() -> None:
    live = Engine(MODELS / "tr808.onnx", SR, 256, play_voices=False)
    n = live.classifier.min_window - 1
    assert live.strategy._classify(_kick()[:n], SR) == (None, None)
    assert live.strategy._classify(_kick()[: n + 1], SR)[0] is not None


def test_a_broken_named_head_is_one_clear_error(tmp_path: Path) -> None:
    import json
    import shutil

    for name in ("tr808.onnx", "tr808.json"):
        shutil.copy(MODELS / name, tmp_path / name)
    card = json.loads((tmp_path / "tr808.json").read_text())
    card["classifier"] = "missing.onnx"
    (tmp_path / "tr808.json").write_text(json.dumps(card))
    with pytest.raises(ValueError, match="names classifier .*missing.onnx"):
        Engine(tmp_path / "tr808.onnx", SR, 256)


def test_plot_marks_classes(tmp_path: Path) -> None:
    clf = load_classifier(MODELS / "drumclass.onnx")
    x = _pattern()
    labels = [hit_label(*clf.classify(x[k * SR + 2000 :], SR)) for k in range(3)]
    assert labels[0].startswith("kick ")
    thetas = np.full((3, 2), 0.5)
    a = plot_comparison(tmp_path / "a.png", x, x, SR, [2000, SR + 2000, 2 * SR + 2000], thetas, ["p", "q"],
                        labels=labels)
    b = plot_comparison(tmp_path / "b.png", x, x, SR, [2000, SR + 2000, 2 * SR + 2000], thetas, ["p", "q"])
    assert a.read_bytes() != b.read_bytes()
    assert hit_label(None, None) is None and hit_label("tom", None) == "tom"
    with pytest.raises(ValueError):
        plot_comparison(tmp_path / "c.png", x, x, SR, [2000], thetas[:1], ["p", "q"], labels=["a", "b"])


def test_resynth_command_writes_class_notes_and_markers(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture) -> None:
    import mido
    import soundfile as sf

    from scrapl_live.cli import main

    sf.write(tmp_path / "kicks.wav", _pattern(), SR)
    rc = main(["resynth", str(tmp_path / "kicks.wav"), "-o", str(tmp_path / "out.wav"),
               "--mid", str(tmp_path / "out.mid")])
    assert rc == 0
    assert capsys.readouterr().out.count("kick ") >= 3  # the class column of the table
    msgs = list(mido.MidiFile(tmp_path / "out.mid").tracks[0])
    assert [m.note for m in msgs if m.type == "note_on"] == [36, 36, 36]
    markers = [m.text for m in msgs if m.type == "marker"]
    assert len(markers) == 3 and all(t.startswith("kick ") for t in markers)
