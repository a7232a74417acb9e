"""Labelled real drum one-shots from Debian packages (``scrapl-live data drums DIR``), split by kit.

Sources (each a Debian package fetched with ``apt-get download`` and unpacked with ``dpkg -x``, no root):

- ``hydrogen``: ``hydrogen-data`` + ``hydrogen-drumkits``, 16 Hydrogen kits (instrument names from
  ``drumkit.xml``);
- ``fluid``: ``fluid-soundfont-gm`` (FluidR3_GM.sf2), every drum kit of bank 128 rendered note by note
  with the ``fluidsynth`` program (:mod:`.soundfont`; GM drum note names label the notes);
- ``avldrums``: ``avldrums.lv2-soundfont``, two multi-velocity acoustic kits (SF2, rendered the same way);
- ``lmms``: ``lmms-common``'s ``samples/drums`` one-shots (one kit, labelled by file name);
- ``drumsynth``: ``lmms-common``'s ``samples/drumsynth`` presets (electronic kits: TR-606/808/909,
  CR-78, Linn, ...), rendered by :mod:`.drumsynth`, one kit per folder, labelled by preset name; only
  presets whose name gives a class other than "other" (the folders also hold effects and melodic
  instruments, and adding the named percussion as "other" measured worse, docs/results.md).

Whole kits are held out: :data:`TEST_KITS` are never trained on nor used to choose a model,
:data:`VAL_KITS` chooses. Byte-identical files are kept once (the most held-out copy wins), so a
sample shared by two kits cannot leak into training from a held-out kit; files the audio loader
refuses (truncated streams) are left out.

``DIR/manifest.json`` (format ``scrapl-live-drums/1``)::

    {"format": "scrapl-live-drums/1",
     "classes": ["kick", "snare", "tom", "closed_hat", "open_hat", "cymbal", "clap", "other"],
     "sources": [{"name": "fluid", "package", "deb", "sha256", "origin",
                  "copyright": "fluid/fluid-soundfont-gm.copyright",    # copied from the package
                  "licences": [{"files": "*", "licence": "MIT license"}, ...]}, ...],
     "test_kits": [[source, kit], ...], "val_kits": [[source, kit], ...],
     "counts": {split: {class: n}},
     "files": [{"path": "fluid/TR-808/n038_v127.wav",   # relative to DIR
                "source": "fluid", "kit": "TR-808", "instrument": "Acoustic Snare",
                "class": "snare", "split": "test"}, ...]}

``split`` is ``train``, ``val`` or ``test``; :class:`~scrapl_live.train.datasets.OneShotFolderDataset`
reads these splits when given ``DIR``.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np

from scrapl_live.encoder.card import file_sha256
from scrapl_live.train import hydrogen

log = logging.getLogger(__name__)

FORMAT = "scrapl-live-drums/1"
CLASSES = ("kick", "snare", "tom", "closed_hat", "open_hat", "cymbal", "clap", "other")
SOURCES = ("hydrogen", "fluid", "avldrums", "lmms", "drumsynth")
RECORDED = ("hydrogen", "fluid", "avldrums", "lmms")
"""The sources of recorded or sampled drums (``data drums``'s default); ``drumsynth`` is synthesised and
built into a corpus of its own, so that a real-drum corpus (encoder training, held-out hits) stays real."""
PACKAGES = {
    "hydrogen": hydrogen.PACKAGES,
    "fluid": ("fluid-soundfont-gm",),
    "avldrums": ("avldrums.lv2-soundfont",),
    "lmms": ("lmms-common",),
    "drumsynth": ("lmms-common",),
}
ORIGIN = {
    "hydrogen": "Hydrogen drum kits (Debian hydrogen-data, hydrogen-drumkits)",
    "fluid": "FluidR3_GM.sf2 by Frank Wen (Debian fluid-soundfont-gm), bank-128 kits rendered with "
    "fluidsynth",
    "avldrums": "AVL Drumkits by Glen MacArthur, SF2 by Robin Gareus (Debian avldrums.lv2-soundfont), "
    "rendered with fluidsynth",
    "lmms": "LMMS sample library, samples/drums (Debian lmms-common)",
    "drumsynth": "LMMS sample library, samples/drumsynth DrumSynth presets (Debian lmms-common), rendered "
    "with scrapl_live.train.drumsynth",
}
TEST_KITS = (("hydrogen", "TR808EmulationKit"), ("fluid", "TR-808"), ("avldrums", "Red_Zeppelin_4pc"))
VAL_KITS = (("hydrogen", "ElectricEmpireKit"),)
SF2_FILES = {"fluid": ("FluidR3_GM.sf2",), "avldrums": ("Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2")}
VELOCITIES = {"fluid": (64, 127), "avldrums": (40, 80, 127)}
NOTES = range(27, 88)  # GM drum notes 35-81 plus the GS extensions either side
CLIP_SECONDS = 2.0
SAMPLE_RATE = 44100

GM_DRUMS = (  # notes 27..87
    "High Q", "Slap", "Scratch Push", "Scratch Pull", "Sticks", "Square Click", "Metronome Click",
    "Metronome Bell", "Acoustic Bass Drum", "Bass Drum 1", "Side Stick", "Acoustic Snare", "Hand Clap",
    "Electric Snare", "Low Floor Tom", "Closed Hi-Hat", "High Floor Tom", "Pedal Hi-Hat", "Low Tom",
    "Open Hi-Hat", "Low-Mid Tom", "Hi-Mid Tom", "Crash Cymbal 1", "High Tom", "Ride Cymbal 1",
    "Chinese Cymbal", "Ride Bell", "Tambourine", "Splash Cymbal", "Cowbell", "Crash Cymbal 2", "Vibraslap",
    "Ride Cymbal 2", "Hi Bongo", "Low Bongo", "Mute Hi Conga", "Open Hi Conga", "Low Conga", "High Timbale",
    "Low Timbale", "High Agogo", "Low Agogo", "Cabasa", "Maracas", "Short Whistle", "Long Whistle",
    "Short Guiro", "Long Guiro", "Claves", "Hi Wood Block", "Low Wood Block", "Mute Cuica", "Open Cuica",
    "Mute Triangle", "Open Triangle", "Shaker", "Jingle Bell", "Bell Tree", "Castanets", "Mute Surdo",
    "Open Surdo",
)

_HAT = re.compile(r"(^| )(hh|hi ?hat|hihat|hat)")
_OPEN = re.compile(r"open|(hh|hat) o( |\d|$)")
_RULES = (
    ("kick", re.compile(r"kick|bass ?drum|(^| )(bd|kik)( |\d|$)")),
    ("snare", re.compile(r"snare|(^| )(sd|snr)( |\d|$)")),
    ("clap", re.compile(r"clap")),
    ("tom", re.compile(r"(^| )tom")),
    ("cymbal", re.compile(r"crash|ride|cymbal|china|splash|(^| )(cym|crsh)")),
)


def gm_name(note: int) -> str:
    """General MIDI (GS) drum name of ``note`` 27..87, else ``"note N"``."""
    return GM_DRUMS[note - NOTES.start] if note in NOTES else f"note {note}"


def drum_class(name: str) -> str:
    """One of :data:`CLASSES` from an instrument or file name ("Open HH", "hihat_opened01", "FloorTom")."""
    text = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    text = re.sub(r"[^a-z0-9]+", " ", text.lower()).strip()
    if _HAT.search(text):
        return "open_hat" if _OPEN.search(text) else "closed_hat"
    return next((cls for cls, rule in _RULES if rule.search(text)), "other")


def label(instrument: str, filename: str) -> str:
    """Class from the instrument name, else from the file name."""
    cls = drum_class(instrument) if instrument else "other"
    return cls if cls != "other" else drum_class(Path(filename).stem)


def package_licences(copyright_file: Path) -> list[dict[str, str]]:
    """``{"files", "licence"}`` of each stanza of a machine-readable Debian copyright file (packaging
    stanzas ``debian/*`` left out); for a free-text file, its first "under the X license" statement."""
    text = copyright_file.read_text(errors="replace")
    out = []
    for stanza in re.split(r"\n\s*\n", text):
        files = re.search(r"^Files:(.*(?:\n[ \t].*)*)", stanza, re.M)
        licence = re.search(r"^License: *(\S.*)$", stanza, re.M)
        if files and licence:
            names = " ".join(files.group(1).split())
            if not names.startswith("debian/"):
                out.append({"files": names, "licence": licence.group(1).strip()})
    if not out:
        m = re.search(r"under the (\S+) licen[cs]e", text, re.I)
        out.append({"files": "*", "licence": f"{m.group(1)} license" if m else "see the copyright file"})
    return out


def _write_clip(path: Path, audio: np.ndarray) -> None:
    import soundfile as sf

    peak = float(np.abs(audio).max())
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio * (0.9 / peak), SAMPLE_RATE, subtype="PCM_16")


def _entries(source: str, staging: Path, dest: Path) -> list[dict]:
    """Copy or render ``source``'s one-shots from its unpacked packages into ``dest/<source>/``."""
    out: list[dict] = []

    def add(rel: Path, kit: str, instrument: str, **extra) -> None:
        out.append({"path": str(rel), "source": source, "kit": kit, "instrument": instrument,
                    "class": label(instrument, rel.name), **extra})  # fmt: skip

    if source == "hydrogen":
        kits = sorted(p for p in (staging / hydrogen.KIT_ROOT).iterdir() if p.is_dir())
        for kit in kits:
            for src, instrument in hydrogen.kit_samples(kit):
                rel = Path(source) / kit.name / src.relative_to(kit)
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(src), dest / rel)
                add(rel, kit.name, instrument)
    elif source == "lmms":
        for src in sorted((staging / "usr/share/lmms/samples/drums").glob("*.ogg")):
            rel = Path(source) / "lmms-drums" / src.name
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), dest / rel)
            add(rel, "lmms-drums", "")
    elif source == "drumsynth":
        from scrapl_live.train.drumsynth import render

        for src in sorted((staging / "usr/share/lmms/samples/drumsynth").rglob("*.ds")):
            if "&" in src.stem or drum_class(src.stem) == "other":  # two drums in one ("snare&hat"); no class
                continue
            try:
                audio = render(src)
            except ValueError as exc:
                log.warning("left out %s", exc)
                continue
            rel = Path(source) / src.parent.name / f"{src.stem}.wav"
            _write_clip(dest / rel, audio)
            add(rel, src.parent.name, src.stem)
    else:
        from scrapl_live.train.soundfont import drum_kits, render_kit

        for name in SF2_FILES[source]:
            sf2 = staging / "usr/share/sounds/sf2" / name
            for bank, program, kit in drum_kits(sf2):
                kit = kit.replace("/", "-")
                strikes = render_kit(sf2, bank, program, list(NOTES), list(VELOCITIES[source]), SAMPLE_RATE,
                                     spacing=CLIP_SECONDS)  # fmt: skip
                for s in strikes:
                    rel = Path(source) / kit / f"n{s.note:03d}_v{s.velocity:03d}.wav"
                    _write_clip(dest / rel, s.audio)
                    add(rel, kit, gm_name(s.note), note=s.note, velocity=s.velocity)
                log.info("%s: rendered %d strikes of %s", source, len(strikes), kit)
    return out


def _split(entry: dict) -> str:
    key = (entry["source"], entry["kit"])
    return "test" if key in TEST_KITS else "val" if key in VAL_KITS else "train"


def _dedupe(dest: Path, files: list[dict]) -> list[dict]:
    """Keep one of each byte-identical group: the test copy, else the val copy, else the first."""
    rank = {"test": 0, "val": 1, "train": 2}
    keep: dict[str, dict] = {}
    for f in sorted(files, key=lambda f: rank[f["split"]]):
        h = file_sha256(dest / f["path"])
        if h in keep:
            (dest / f["path"]).unlink()
        else:
            keep[h] = f
    kept = {id(f) for f in keep.values()}
    return [f for f in files if id(f) in kept]


def _decodable(dest: Path, files: list[dict]) -> list[dict]:
    """Drop (and delete) the files the audio loader refuses (e.g. a truncated OGG stream)."""
    from scrapl_live.audio import load_audio

    kept = []
    for f in files:
        try:
            load_audio(dest / f["path"])
            kept.append(f)
        except ValueError as exc:
            log.warning("left out %s: %s", f["path"], exc)
            (dest / f["path"]).unlink()
    return kept


def build_drums(dest: str | Path, sources: tuple[str, ...] = RECORDED) -> dict:
    """Fetch, unpack/render, label, split and index ``sources`` under ``dest``. Returns the manifest.

    Idempotent: the .debs are cached in ``dest/debs``; each source's folder is rebuilt.
    """
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown or not sources:
        raise ValueError(f"sources must be a non-empty subset of {SOURCES}, got {sources}")
    dest = Path(dest).resolve()
    files, meta = [], []
    for source in sources:
        debs = hydrogen.download_debs(dest / "debs", PACKAGES[source])
        staging = dest / "_staging" / source
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        hydrogen.dpkg_extract(debs, staging)
        shutil.rmtree(dest / source, ignore_errors=True)
        entries = _entries(source, staging, dest)
        for deb in debs:
            pkg = deb.name.split("_")[0]
            shutil.copy(staging / "usr/share/doc" / pkg / "copyright", dest / source / f"{pkg}.copyright")
            meta.append({"name": source, "package": pkg, "deb": deb.name, "sha256": file_sha256(deb),
                         "licences": package_licences(dest / source / f"{pkg}.copyright"),
                         "copyright": f"{source}/{pkg}.copyright", "origin": ORIGIN[source]})  # fmt: skip
        shutil.rmtree(staging)
        files += entries
        log.info("%s: %d one-shots", source, len(entries))
    shutil.rmtree(dest / "_staging", ignore_errors=True)
    for f in files:
        f["split"] = _split(f)
    files = _decodable(dest, _dedupe(dest, files))
    splits = ("train", "val", "test")
    counts = {s: dict(Counter(f["class"] for f in files if f["split"] == s)) for s in splits}
    manifest = {"format": FORMAT, "classes": list(CLASSES), "sources": meta,
                "test_kits": [list(k) for k in TEST_KITS], "val_kits": [list(k) for k in VAL_KITS],
                "counts": counts, "files": files}  # fmt: skip
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def manifest_files(root: str | Path, split: str) -> list[Path] | None:
    """Files of ``split`` ('train' | 'val' | 'test' | 'all') listed by ``root/manifest.json`` when it is a
    :data:`FORMAT` manifest, else None (a plain folder)."""
    path = Path(root) / "manifest.json"
    if not path.is_file():
        return None
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        return None
    return [Path(root) / f["path"] for f in manifest["files"] if split in ("all", f["split"])]
