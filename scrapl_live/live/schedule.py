"""A hit's analysis schedule: which windows after its onset are analysed, and what each one computes.

The encoder's windows come from the model card (:attr:`LoadedModel.windows`): the first is
``first_window`` (W₀; the smallest listed window at least as long when the encoder takes listed lengths
only), then each listed window at least :data:`REFINE_RATIO` times the previous one, and always the
longest: 256 → 1024 → 4096 for windows 128…4096.

The drum-class head answers from the longest of its own windows that the heard samples cover, so a
refinement whose window passes a head's window the previous stage did not reach would compute that
head late, bundled with the longer encoder run.  :func:`plan` gives such a head a stage of its own at
its window (class only), and the encoder stage after it reuses that class: the class is known as soon
as its head can answer, and no job runs both the longest encoder window and a head.
"""

from __future__ import annotations

REFINE_RATIO = 4
"""Each refinement's window is at least this many times the previous one (plus the longest window)."""

BOTH, THETA, LABEL = "both", "theta", "label"
"""What a stage computes: θ̂ and the class, θ̂ only (the class is the previous stage's), the class only."""


def encoder_windows(windows: list[int], any_window: bool, first_window: int, refine: bool) -> list[int]:
    """The encoder's schedule (ascending windows) from a card's ``windows`` (ascending)."""
    if any_window and windows[0] <= first_window <= windows[-1]:
        first = first_window
    else:
        first = next((w for w in windows if w >= first_window), windows[-1])
    schedule = [first]
    for w in windows if refine else ():
        if w >= REFINE_RATIO * schedule[-1] or w == windows[-1] > schedule[-1]:
            schedule.append(w)
    return schedule


def merged(kinds: list[str]) -> str:
    """What one stage computes in place of several that completed at once (a long block): θ̂ if any
    of them computes it, the class if any of them does."""
    theta, label = any(k != LABEL for k in kinds), any(k != THETA for k in kinds)
    return BOTH if theta and label else THETA if theta else LABEL


def plan(schedule: list[int], heads: list[int]) -> list[tuple[int, str]]:
    """(window, what) stages of an encoder ``schedule`` with class heads of ``heads`` samples (both
    ascending, the same rate; ``heads`` empty: no classifier): each stage is :data:`BOTH`,
    :data:`THETA` or :data:`LABEL`."""
    stages: list[tuple[int, str]] = []
    last = None  # the head whose class the previous stage left
    for i, w in enumerate(schedule):
        head = max((h for h in heads if h <= w), default=None)
        if head is None or head == last:
            stages.append((w, THETA))
        elif i and schedule[i - 1] < head < w:
            stages += [(head, LABEL), (w, THETA)]
        else:
            stages.append((w, BOTH))
        last = head if head is not None else last
    return stages
