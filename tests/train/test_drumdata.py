"""Drum corpus: labels from names, SF2 preset headers, licences, dedupe, and kit splits in the dataset."""

from __future__ import annotations

import json
import shutil
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from scrapl_live.train.datasets import OneShotFolderDataset
from scrapl_live.train.drumdata import FORMAT, _dedupe, package_licences
from scrapl_live.train.drumlabels import drum_class, gm_name, label
from scrapl_live.train.soundfont import drum_kits, presets, render_kit


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("Open HH", "open_hat"), ("hihat_opened01", "open_hat"), ("HHOpen", "open_hat"),
        ("Closed HH", "closed_hat"), ("hihat_foot_pedal01", "closed_hat"), ("Pedal Hi-Hat", "closed_hat"),
        ("Hat_o", "open_hat"), ("Hat-o2", "open_hat"), ("TR606_Hat_O", "open_hat"), ("Hat-c2", "closed_hat"),
        ("Kick", "kick"), ("bassdrum01", "kick"), ("Acoustic Bass Drum", "kick"), ("Bd Long", "kick"),
        ("Snare Rimshot", "snare"), ("sd_01", "snare"), ("Hand Clap", "clap"),
        ("FloorTom", "tom"), ("101450__menegass__tomh", "tom"), ("Low-Mid Tom", "tom"),
        ("Crash Cymbal 2", "cymbal"), ("Ride Bell", "cymbal"), ("Chinese Cymbal", "cymbal"),
        ("Cowbell", "other"), ("Side Stick", "other"), ("nasty_bass01", "other"), ("Open Hi Conga", "other"),
        ("custom", "other"), ("bottom", "other"),
    ],
)  # fmt: skip
def test_drum_class_from_names(name: str, cls: str) -> None:
    assert drum_class(name) == cls


def test_gm_note_names_and_label_fallback() -> None:
    assert (gm_name(35), gm_name(36), gm_name(38), gm_name(42), gm_name(46), gm_name(49), gm_name(81)) == (
        "Acoustic Bass Drum", "Bass Drum 1", "Acoustic Snare", "Closed Hi-Hat", "Open Hi-Hat",
        "Crash Cymbal 1", "Open Triangle",
    )  # fmt: skip
    assert gm_name(87) == "Open Surdo" and gm_name(20) == "note 20"
    assert label("Perc 3", "kick_hard01.wav") == "kick"  # instrument says nothing: the file name decides
    assert label("Snare", "kick_hard01.wav") == "snare"  # the instrument name wins


def _sf2(path: Path, records: list[tuple[str, int, int]]) -> None:
    """A minimal SF2: RIFF/sfbk with an INFO list and a pdta list holding only phdr (+ EOP)."""
    phdr = b"".join(
        name.encode().ljust(20, b"\0") + struct.pack("<HHHIII", prog, bank, 0, 0, 0, 0)
        for name, prog, bank in [*records, ("EOP", 0, 0)]
    )
    chunk = lambda cid, data: cid + struct.pack("<I", len(data)) + data + b"\0" * (len(data) & 1)  # noqa: E731
    body = b"sfbk" + chunk(b"LIST", b"INFO" + chunk(b"ifil", struct.pack("<HH", 2, 1)))
    body += chunk(b"LIST", b"pdta" + chunk(b"phdr", phdr))
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_sf2_preset_headers(tmp_path: Path) -> None:
    gm = tmp_path / "gm.sf2"
    _sf2(gm, [("Piano", 0, 0), ("TR-808", 25, 128), ("Standard", 0, 128)])
    assert presets(gm) == [(0, 0, "Piano"), (128, 25, "TR-808"), (128, 0, "Standard")]
    assert drum_kits(gm) == [(128, 0, "Standard"), (128, 25, "TR-808")]
    kit = tmp_path / "kit.sf2"
    _sf2(kit, [("Black_Pearl_4pc", 0, 0)])
    assert drum_kits(kit) == [(0, 0, "Black_Pearl_4pc")]  # no bank 128: a drum-only soundfont
    (tmp_path / "x.sf2").write_bytes(b"RIFF\0\0\0\0WAVE")
    with pytest.raises(ValueError, match="not an SF2"):
        presets(tmp_path / "x.sf2")


def test_render_kit_cuts_one_clip_per_defined_note() -> None:
    sf2 = Path("/usr/share/sounds/sf2/default-GM.sf2")  # installed with fluidsynth (its recommended GM font)
    if shutil.which("fluidsynth") is None or not sf2.is_file():
        pytest.skip("needs fluidsynth and a GM soundfont (apt-get install fluidsynth timgm6mb-soundfont)")
    bank, program, _ = drum_kits(sf2)[0]
    strikes = render_kit(sf2, bank, program, [20, 36, 38], [127], spacing=1.0)
    assert [s.note for s in strikes] == [36, 38]  # note 20 is not in the kit: silent, left out
    kick, snare = (s.audio for s in strikes)
    assert kick.shape == (44100,)
    spec = lambda x: np.abs(np.fft.rfft(x[:8192]))  # noqa: E731
    f = np.fft.rfftfreq(8192, 1 / 44100)
    centroid = lambda x: float((spec(x) * f).sum() / spec(x).sum())  # noqa: E731
    assert centroid(kick) < centroid(snare)  # a bass drum is darker than a snare


def test_package_licences_dep5_and_free_text(tmp_path: Path) -> None:
    dep5 = tmp_path / "a"
    dep5.write_text(
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nCopyright: 2013 X\nLicense: GPL-2+\n\n"
        "Files: sf2/*\n kits/*\nCopyright: 2015 Y\nLicense: CC-BY-SA-3.0\n\n"
        "Files: debian/*\nCopyright: Z\nLicense: GPL-2+\n\nLicense: GPL-2+\n text\n"
    )
    assert package_licences(dep5) == [
        {"files": "*", "licence": "GPL-2+"}, {"files": "sf2/* kits/*", "licence": "CC-BY-SA-3.0"}
    ]
    free = tmp_path / "b"
    free.write_text('Copyright 2008 F\n"I hereby release Fluid under the MIT license, as described."\n')
    assert package_licences(free) == [{"files": "*", "licence": "MIT license"}]


def _tone(path: Path, hz: float) -> None:
    t = np.arange(4410) / 44100
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, (np.sin(2 * np.pi * hz * t) * np.exp(-t * 30)).astype(np.float32), 44100)


def test_dedupe_keeps_the_held_out_copy(tmp_path: Path) -> None:
    _tone(tmp_path / "a/x.wav", 100)
    (tmp_path / "b").mkdir()
    shutil.copy(tmp_path / "a/x.wav", tmp_path / "b/x.wav")
    _tone(tmp_path / "a/y.wav", 200)
    files = [{"path": "a/x.wav", "split": "train"}, {"path": "b/x.wav", "split": "test"},
             {"path": "a/y.wav", "split": "train"}]  # fmt: skip
    kept = _dedupe(tmp_path, files)
    assert [f["path"] for f in kept] == ["b/x.wav", "a/y.wav"]
    assert not (tmp_path / "a/x.wav").exists() and (tmp_path / "b/x.wav").exists()


def test_folder_dataset_uses_the_manifest_kit_splits(tmp_path: Path) -> None:
    files = []
    for i, (kit, split) in enumerate([("k1", "train")] * 4 + [("k2", "val")] * 2 + [("k3", "test")] * 3):
        rel = f"src/{kit}/{i}.wav"
        _tone(tmp_path / rel, 100 + 50 * i)
        files.append({"path": rel, "source": "src", "kit": kit, "instrument": "", "class": "kick",
                      "split": split})  # fmt: skip
    (tmp_path / "manifest.json").write_text(json.dumps({"format": FORMAT, "files": files}))
    got = {s: OneShotFolderDataset(tmp_path, 44100, 4410, s) for s in ("train", "val", "test", "all")}
    kit_of = lambda ds: {p.parent.name for p in ds.files}  # noqa: E731
    assert {s: len(d) for s, d in got.items()} == {"train": 4, "val": 2, "test": 3, "all": 9}
    assert (kit_of(got["train"]), kit_of(got["val"]), kit_of(got["test"])) == ({"k1"}, {"k2"}, {"k3"})
    (tmp_path / "manifest.json").write_text(json.dumps({"files": files}))  # not a drum manifest: random cut
    plain = OneShotFolderDataset(tmp_path, 44100, 4410, "train")
    assert len(plain) == round(9 * 425 / 681)


def test_undecodable_files_are_left_out(tmp_path: Path) -> None:
    from scrapl_live.train.drumdata import _decodable

    _tone(tmp_path / "k/good.wav", 100)
    (tmp_path / "k/bad.wav").write_bytes((tmp_path / "k/good.wav").read_bytes()[:60])  # header, no data
    kept = _decodable(tmp_path, [{"path": "k/good.wav"}, {"path": "k/bad.wav"}])
    assert kept == [{"path": "k/good.wav"}] and not (tmp_path / "k/bad.wav").exists()


def test_drumsynth_presets_render_to_labelled_one_shots(tmp_path: Path) -> None:
    from scrapl_live.audio import load_audio
    from scrapl_live.train.drumdata import _entries

    kit = tmp_path / "staging/usr/share/lmms/samples/drumsynth/tr808"
    kit.mkdir(parents=True)
    kick = "[General]\nStretch=100\n[Tone]\nOn=1\nLevel=128\nF1=150\nF2=50\nDroop=40\nEnvelope=0,100 8000,0\n"
    hat = "[General]\n[NoiseBand]\nOn=1\nLevel=128\nF=8000\ndF=40\nEnvelope=0,100 3000,0\n"
    presets = {"Kick": kick, "Hat_o": hat, "Cowbell": kick, "snare&hat": hat, "Snare": "[General]\n"}
    for name, text in presets.items():
        (kit / f"{name}.ds").write_text(text)
    entries = _entries("drumsynth", tmp_path / "staging", tmp_path / "dest")
    got = {e["instrument"]: (e["kit"], e["class"]) for e in entries}
    # Cowbell (no class), snare&hat (two drums) and Snare (silent) are left out
    assert got == {"Kick": ("tr808", "kick"), "Hat_o": ("tr808", "open_hat")}
    audio, sr = load_audio(tmp_path / "dest" / next(e["path"] for e in entries if e["class"] == "kick"))
    assert sr == 44100 and len(audio) == 8000
    assert float(np.abs(audio).max()) == pytest.approx(0.9, abs=1e-3)


def test_data_drums_builds_the_recorded_sources_by_default() -> None:
    from scrapl_live.cli import build_parser
    from scrapl_live.train.drumdata import FONTS, RECORDED, SOURCES

    args = build_parser().parse_args(["data", "drums", "out"])
    assert tuple(args.sources.split(",")) == RECORDED
    assert tuple(s for s in SOURCES if s not in ("sonicpi", "drumsynth", *FONTS)) == RECORDED


def test_sonic_pi_one_shots_are_labelled_from_its_file_names(tmp_path: Path) -> None:
    from scrapl_live.train.drumdata import _entries

    names = {"bd_haus": "kick", "drum_bass_hard": "kick", "drum_heavy_kick": "kick", "sn_dub": "snare",
             "elec_hi_snare": "snare", "drum_cymbal_closed": "closed_hat", "drum_cymbal_pedal": "closed_hat",
             "drum_cymbal_open": "open_hat", "drum_splash_soft": "cymbal", "drum_tom_lo_hard": "tom",
             "drum_cowbell": "other", "tabla_na": "other", "elec_blip": "other",
             "drum_roll": None, "loop_amen": None, "ambi_choir": None, "bass_hit_c": None}  # None: left out
    for name in names:
        _tone(tmp_path / "staging/usr/share/sonic-pi/samples" / f"{name}.flac", 100)
    entries = _entries("sonicpi", tmp_path / "staging", tmp_path / "dest")
    got = {Path(e["path"]).stem: e["class"] for e in entries}
    assert got == {n: c for n, c in names.items() if c is not None}
    assert {e["kit"] for e in entries} == {"sonic-pi"}
    assert all((tmp_path / "dest" / e["path"]).is_file() for e in entries)


def test_a_general_midi_font_gives_prefixed_kits_without_toms(tmp_path: Path) -> None:
    from scrapl_live.train.drumdata import _entries

    sf2 = Path("/usr/share/sounds/sf2/TimGM6mb.sf2")  # timgm6mb-soundfont, installed with fluidsynth
    if shutil.which("fluidsynth") is None or not sf2.is_file():
        pytest.skip("needs fluidsynth and timgm6mb-soundfont (apt-get install fluidsynth timgm6mb-soundfont)")
    staging = tmp_path / "staging/usr/share/sounds/sf2"
    staging.mkdir(parents=True)
    (staging / sf2.name).symlink_to(sf2)
    entries = _entries("timgm", tmp_path / "staging", tmp_path / "dest")
    kits = {e["kit"] for e in entries}
    assert kits == {f"TimGM6mb {k}" for _, _, k in drum_kits(sf2)}
    classes = {e["class"] for e in entries}
    assert "tom" not in classes and {"kick", "snare", "closed_hat", "open_hat", "cymbal"} <= classes
    assert all(e["class"] == drum_class(e["instrument"]) for e in entries)
