"""Real drum one-shots from Debian's Hydrogen drum kits (``scrapl-live data hydrogen DIR``).

``apt-get download`` fetches ``hydrogen-data`` and ``hydrogen-drumkits`` (no root install needed),
``dpkg -x`` unpacks them, and every kit's samples are moved into ``DIR/train/<kit>/`` — except the
``TR808EmulationKit``, which goes to ``DIR/test/<kit>/`` because it is the tr808 test set and must
never be trained on. ``DIR/manifest.json`` lists every file with its kit, instrument and split.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

from scrapl_live.encoder.card import file_sha256

log = logging.getLogger(__name__)

PACKAGES = ("hydrogen-data", "hydrogen-drumkits")
TEST_KITS = ("TR808EmulationKit",)
KIT_ROOT = Path("usr/share/hydrogen/data/drumkits")
SAMPLE_EXTENSIONS = (".wav", ".flac", ".aif", ".aiff", ".mp3", ".ogg")


def _run(cmd: list[str], cwd: Path) -> None:
    try:
        subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise RuntimeError(f"{cmd[0]} is not available (Debian/Ubuntu only): {exc}") from exc
    except subprocess.CalledProcessError as exc:
        raise RuntimeError(f"{' '.join(cmd)} failed: {exc.stderr.strip()}") from exc


def download_debs(deb_dir: Path, packages: tuple[str, ...] = PACKAGES) -> list[Path]:
    """Fetch the packages' .deb files into ``deb_dir`` unless already there. Returns their paths."""
    deb_dir.mkdir(parents=True, exist_ok=True)
    missing = [p for p in packages if not list(deb_dir.glob(f"{p}_*.deb"))]
    if missing:
        log.info("apt-get download %s", " ".join(missing))
        _run(["apt-get", "download", *missing], cwd=deb_dir)
    return [sorted(deb_dir.glob(f"{p}_*.deb"))[-1] for p in packages]


def dpkg_extract(debs: list[Path], staging: Path) -> None:
    """``dpkg -x`` every package into ``staging`` (no root needed)."""
    for deb in debs:
        _run(["dpkg", "-x", str(deb), str(staging)], cwd=staging)


def instrument_names(drumkit_xml: Path) -> dict[str, str]:
    """Map sample file name -> instrument name from a kit's ``drumkit.xml`` (namespace-agnostic)."""
    names: dict[str, str] = {}
    if not drumkit_xml.is_file():
        return names
    root = ET.parse(drumkit_xml).getroot()
    for inst in root.iter():
        if not inst.tag.endswith("instrument"):
            continue
        name = next((c.text or "" for c in inst if c.tag.endswith("name")), "")
        for el in inst.iter():
            if el.tag.endswith("filename") and el.text:
                names[Path(el.text).name] = name.strip()
    return names


def kit_samples(kit: Path) -> list[tuple[Path, str]]:
    """(sample file, instrument name or "") of every sample under one unpacked kit folder, sorted."""
    names = instrument_names(kit / "drumkit.xml")
    return [
        (src, names.get(src.name, ""))
        for src in sorted(kit.rglob("*"))
        if src.is_file() and src.suffix.lower() in SAMPLE_EXTENSIONS
    ]


def unpack(debs: list[Path], staging: Path) -> list[Path]:
    """``dpkg -x`` the packages into ``staging``; returns the kit folders. RuntimeError when none."""
    dpkg_extract(debs, staging)
    root = staging / KIT_ROOT
    kits = sorted(p for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    if not kits:
        raise RuntimeError(f"no drum kits found in {[d.name for d in debs]}")
    return kits


def extract_hydrogen(dest: str | Path, test_kits: tuple[str, ...] = TEST_KITS) -> dict:
    """Build the one-shot corpus under ``dest`` (train/, test/, debs/, manifest.json). Returns the manifest.

    Idempotent: the .debs are cached in ``dest/debs``; existing train/test folders are replaced.
    """
    dest = Path(dest).resolve()
    debs = download_debs(dest / "debs")
    staging = dest / "_staging"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    kits = unpack(debs, staging)
    for split in ("train", "test"):
        shutil.rmtree(dest / split, ignore_errors=True)
    files = []
    for kit in kits:
        split = "test" if kit.name in test_kits else "train"
        for src, instrument in kit_samples(kit):
            rel = Path(split) / kit.name / src.relative_to(kit)
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(src), dest / rel)
            files.append({"path": str(rel), "kit": kit.name, "instrument": instrument, "split": split})
    shutil.rmtree(staging)
    manifest = {
        "packages": [{"deb": d.name, "sha256": file_sha256(d)} for d in debs],
        "test_kits": list(test_kits),
        "n_train": sum(f["split"] == "train" for f in files),
        "n_test": sum(f["split"] == "test" for f in files),
        "files": files,
    }
    (dest / "manifest.json").write_text(json.dumps(manifest, indent=1))
    log.info("hydrogen corpus: %d train, %d test files in %s", manifest["n_train"], manifest["n_test"], dest)
    return manifest
