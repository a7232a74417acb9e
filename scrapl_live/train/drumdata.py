"""Labelled real drum one-shots from Debian packages (``scrapl-live data drums DIR``), split by kit.

Sources (each a Debian package fetched with ``apt-get download`` and unpacked with ``dpkg -x``, no root):

- ``hydrogen``: ``hydrogen-data`` + ``hydrogen-drumkits``, 16 Hydrogen kits (instrument names from
  ``drumkit.xml``);
- ``fluid``: ``fluid-soundfont-gm`` (FluidR3_GM.sf2), every drum kit of bank 128 rendered note by note
  with the ``fluidsynth`` program (:mod:`.soundfont`; GM drum note names label the notes);
- ``avldrums``: ``avldrums.lv2-soundfont``, two multi-velocity acoustic kits (SF2, rendered the same way);
- ``lmms``: ``lmms-common``'s ``samples/drums`` one-shots (one kit, labelled by file name);
- ``sonicpi``: ``sonic-pi-samples``' drum and percussion one-shots (CC0 recordings from freesound.org,
  one kit, labelled by file name; :data:`SONIC_PI_NAMES` spells out its shorthand);
- ``drumsynth``: ``lmms-common``'s ``samples/drumsynth`` presets (electronic kits: TR-606/808/909,
  CR-78, Linn, ...), rendered by :mod:`.drumsynth`, one kit per folder, labelled by preset name; only
  presets whose name gives a class other than "other" (the folders also hold effects and melodic
  instruments, and adding the named percussion as "other" measured worse, docs/results.md);
- ``csound``, ``timgm``, ``opl3`` (:data:`FONTS`): the bank-128 kits of three general-MIDI soundfonts
  (``csound-soundfont``, ``timgm6mb-soundfont``, ``opl3-soundfont``: sampled kits and an FM chip's),
  rendered like ``fluid``, kit names prefixed with the font's; their toms are left out (with them the
  drum-class head lost kicks, docs/results.md).  Build them with ``screen`` set to the real-drum
  corpus: such fonts share samples with other fonts, and :mod:`.nearcopy` leaves out every one-shot
  that is a copy of one of that corpus's, held-out kits included.

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
from scrapl_live.train.drumlabels import CLASSES, NOTES, drum_class, gm_name, label

log = logging.getLogger(__name__)

FORMAT = "scrapl-live-drums/1"
SOURCES = ("hydrogen", "fluid", "avldrums", "lmms", "sonicpi", "drumsynth", "csound", "timgm", "opl3")
FONTS = ("csound", "timgm", "opl3")
RECORDED = ("hydrogen", "fluid", "avldrums", "lmms")
"""The sources of recorded or sampled drum kits (``data drums``'s default); ``sonicpi`` (a sample
library, half of it tabla strokes and blips), ``drumsynth`` (synthesised) and :data:`FONTS` are built into
corpora of their own, so that the real-drum corpus (encoder training, held-out hits) stays what it is."""
PACKAGES = {
    "hydrogen": hydrogen.PACKAGES,
    "fluid": ("fluid-soundfont-gm",),
    "avldrums": ("avldrums.lv2-soundfont",),
    "lmms": ("lmms-common",),
    "sonicpi": ("sonic-pi-samples",),
    "drumsynth": ("lmms-common",),
    "csound": ("csound-soundfont",),
    "timgm": ("timgm6mb-soundfont",),
    "opl3": ("opl3-soundfont",),
}
ORIGIN = {
    "hydrogen": "Hydrogen drum kits (Debian hydrogen-data, hydrogen-drumkits)",
    "fluid": "FluidR3_GM.sf2 by Frank Wen (Debian fluid-soundfont-gm), bank-128 kits rendered with "
    "fluidsynth",
    "avldrums": "AVL Drumkits by Glen MacArthur, SF2 by Robin Gareus (Debian avldrums.lv2-soundfont), "
    "rendered with fluidsynth",
    "lmms": "LMMS sample library, samples/drums (Debian lmms-common)",
    "sonicpi": "Sonic Pi sample library, drum and percussion one-shots (Debian sonic-pi-samples)",
    "drumsynth": "LMMS sample library, samples/drumsynth DrumSynth presets (Debian lmms-common), rendered "
    "with scrapl_live.train.drumsynth",
    "csound": "sf_GMbank.sf2 (Debian csound-soundfont), bank-128 kits rendered with fluidsynth",
    "timgm": "TimGM6mb.sf2 by Tim Brechbill (Debian timgm6mb-soundfont), bank-128 kits rendered with "
    "fluidsynth",
    "opl3": "OPL-3_FM_128M.sf2 by Zandro Reveille (Debian opl3-soundfont, FM-chip sounds), its drum kit "
    "rendered with fluidsynth",
}
TEST_KITS = (("hydrogen", "TR808EmulationKit"), ("fluid", "TR-808"), ("avldrums", "Red_Zeppelin_4pc"))
VAL_KITS = (("hydrogen", "ElectricEmpireKit"),)
SF2_FILES = {"fluid": ("FluidR3_GM.sf2",), "avldrums": ("Black_Pearl_4_LV2.sf2", "Red_Zeppelin_4_LV2.sf2"),
             "csound": ("sf_GMbank.sf2",), "timgm": ("TimGM6mb.sf2",), "opl3": ("OPL-3_FM_128M.sf2",)}
VELOCITIES = {"fluid": (64, 127), "avldrums": (40, 80, 127), "csound": (64, 127), "timgm": (64, 127),
              "opl3": (64, 127)}
KIT_PREFIX = {"csound": "csound ", "timgm": "TimGM6mb ", "opl3": "OPL3 "}
"""Kit-name prefixes of :data:`FONTS`, whose kits share FluidR3's names ("Standard", "Electronic"):
``--val-kits`` matches a bare kit name in every corpus."""
FONT_LEFT_OUT = ("tom",)
"""Classes of :data:`FONTS` not taken."""
SONIC_PI_NAMES = {"bd_": "Bass Drum", "sn_": "Snare", "drum_bass_": "Bass Drum",
                  "drum_cymbal_closed": "Closed Hi-Hat", "drum_cymbal_pedal": "Pedal Hi-Hat",
                  "drum_cymbal_open": "Open Hi-Hat"}
"""Sonic Pi file-name prefixes whose class the name rules cannot read ("bd_", a hi-hat called a cymbal)."""
SONIC_PI_TAKEN = ("bd_", "sn_", "drum_", "elec_", "perc_", "tabla_")
"""Its one-shot families (drums, electronic drums and blips, percussion, tabla strokes); the loops,
ambiences, basses and guitars are not one-shots of a drum, and ``drum_roll`` is many strokes."""
CLIP_SECONDS = 2.0
SAMPLE_RATE = 44100

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

    def take(src: Path, rel: Path, kit: str, instrument: str) -> None:
        """Move an unpacked sample file to ``dest/rel`` and list it."""
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(src), dest / rel)
        add(rel, kit, instrument)

    if source == "hydrogen":
        kits = sorted(p for p in (staging / hydrogen.KIT_ROOT).iterdir() if p.is_dir())
        for kit in kits:
            for src, instrument in hydrogen.kit_samples(kit):
                take(src, Path(source) / kit.name / src.relative_to(kit), kit.name, instrument)
    elif source == "lmms":
        for src in sorted((staging / "usr/share/lmms/samples/drums").glob("*.ogg")):
            take(src, Path(source) / "lmms-drums" / src.name, "lmms-drums", "")
    elif source == "sonicpi":
        for src in sorted((staging / "usr/share/sonic-pi/samples").glob("*.flac")):
            if src.name.startswith(SONIC_PI_TAKEN) and src.stem != "drum_roll":
                instrument = next((v for k, v in SONIC_PI_NAMES.items() if src.name.startswith(k)), "")
                take(src, Path(source) / "sonic-pi" / src.name, "sonic-pi", instrument)
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
                kit = KIT_PREFIX.get(source, "") + kit.replace("/", "-")
                strikes = render_kit(sf2, bank, program, list(NOTES), list(VELOCITIES[source]), SAMPLE_RATE,
                                     spacing=CLIP_SECONDS)  # fmt: skip
                for s in strikes:
                    if source in FONTS and drum_class(gm_name(s.note)) in FONT_LEFT_OUT:
                        continue
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
            load_audio(dest / f["path"], warn_clipped=False)
            kept.append(f)
        except ValueError as exc:
            log.warning("left out %s: %s", f["path"], exc)
            (dest / f["path"]).unlink()
    return kept


def build_drums(dest: str | Path, sources: tuple[str, ...] = RECORDED,
                screen: str | Path | None = None) -> dict:
    """Fetch, unpack/render, label, split and index ``sources`` under ``dest``. Returns the manifest.

    screen: a corpus folder (its ``manifest.json``) whose one-shots are not to be copied: every one-shot
    of ``sources`` that is a near-copy of one of its same class (:mod:`.nearcopy`) is left out and
    listed in the manifest's ``screen``.  Idempotent: the .debs are cached in ``dest/debs``; each
    source's folder is rebuilt.
    """
    unknown = sorted(set(sources) - set(SOURCES))
    if unknown or not sources:
        raise ValueError(f"sources must be a non-empty subset of {SOURCES}, got {sources}")
    reference = _screen_reference(screen)
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
    screened = None
    if screen is not None:
        from scrapl_live.train.nearcopy import THRESHOLD, near_copies

        found = near_copies(files, dest, reference, Path(screen))
        for path in found:
            (dest / path).unlink()
        files = [f for f in files if f["path"] not in found]
        screened = {"reference": str(screen), "threshold": THRESHOLD,
                    "left_out": [{"path": p, "similarity": round(v, 4), "copy_of": m}
                                 for p, (v, m) in sorted(found.items())]}  # fmt: skip
        log.info("left out %d near-copies of %s's one-shots", len(found), screen)
    splits = ("train", "val", "test")
    counts = {s: dict(Counter(f["class"] for f in files if f["split"] == s)) for s in splits}
    manifest = {"format": FORMAT, "classes": list(CLASSES), "sources": meta,
                "test_kits": [list(k) for k in TEST_KITS], "val_kits": [list(k) for k in VAL_KITS],
                "counts": counts, "files": files}  # fmt: skip
    if screened is not None:
        manifest["screen"] = screened
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def _screen_reference(screen: str | Path | None) -> list[dict]:
    """The manifest entries of the ``screen`` corpus (checked before any download)."""
    if screen is None:
        return []
    path = Path(screen) / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(f"--screen {screen}: no manifest.json there (build it with `data drums`)")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise ValueError(f"--screen {screen}: {path} is not a {FORMAT} manifest")
    return list(manifest["files"])


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
