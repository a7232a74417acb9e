"""Per-drum-class routing of the mapping file: ``[classes.<class>]`` → the class's MIDI note and plugin."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scrapl_live.control.mapping_checks import int_in, no_unknown

CLASS_KEYS = {"note", "plugin"}

DRUM_NOTES: dict[str, int] = {"kick": 36, "snare": 38, "tom": 45, "closed_hat": 42, "open_hat": 46,
                              "cymbal": 49, "clap": 39}
"""General-MIDI percussion notes of the drum classes; class "other" (and a hit with no class) plays
the mapping's ``midi.note``."""
DRUM_CLASSES: tuple[str, ...] = (*DRUM_NOTES, "other")


@dataclass(frozen=True)
class ClassMap:
    """Where hits of one drum class go: their MIDI note and, optionally, a plugin of their own."""

    name: str
    note: int
    plugin: str | None = None


def classes_from_dict(tables: Any) -> tuple[ClassMap, ...]:
    """Validate the ``[classes]`` table (ValueError naming the offending class or key)."""
    if not isinstance(tables, dict):
        raise ValueError("mapping: [classes] must be a table of [classes.<class>] tables")
    out = []
    for name, d in tables.items():
        key = f"classes.{name}"
        if name not in DRUM_CLASSES:
            raise ValueError(f"mapping: unknown drum class [{key}]; classes: {list(DRUM_CLASSES)}")
        if not isinstance(d, dict):
            raise ValueError(f"mapping: {key} must be a table, got {d!r}")
        no_unknown(d, CLASS_KEYS, key + ".")
        note = int_in(d.get("note", DRUM_NOTES.get(name, 36)), f"{key}.note", 0, 127)
        plugin = d.get("plugin")
        if plugin is not None and (not isinstance(plugin, str) or not plugin):
            raise ValueError(f"mapping: {key}.plugin must be PATH.vst3 or builtin:NAME, got {plugin!r}")
        out.append(ClassMap(name=name, note=note, plugin=plugin))
    return tuple(out)

