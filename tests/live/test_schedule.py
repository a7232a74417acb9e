"""A hit's stages: the encoder's schedule from a card's windows, and the class head's own stage."""

from __future__ import annotations

import pytest

from scrapl_live.live.schedule import BOTH, LABEL, THETA, encoder_windows, merged, plan

CARD = [128, 256, 512, 1024, 2048, 4096]
HEADS = [128, 256, 512, 1024, 2048]


@pytest.mark.parametrize(("first", "refine", "expected"), [
    (256, True, [256, 1024, 4096]), (128, True, [128, 512, 2048, 4096]), (1024, True, [1024, 4096]),
    (256, False, [256]), (4096, True, [4096]),
])
def test_each_refinement_is_at_least_four_times_the_last_and_the_longest_ends_it(
        first: int, refine: bool, expected: list[int]) -> None:
    assert encoder_windows(CARD, True, first, refine) == expected


def test_listed_lengths_only_start_at_the_first_listed_window_as_long() -> None:
    assert encoder_windows([512, 4096], False, 256, True) == [512, 4096]


@pytest.mark.parametrize(("schedule", "expected"), [
    ([256, 1024, 4096], [(256, BOTH), (1024, BOTH), (2048, LABEL), (4096, THETA)]),
    ([128, 512, 2048, 4096], [(128, BOTH), (512, BOTH), (2048, BOTH), (4096, THETA)]),
    ([1024, 4096], [(1024, BOTH), (2048, LABEL), (4096, THETA)]),
    ([256], [(256, BOTH)]),
    ([4096], [(4096, BOTH)]),
])
def test_a_head_the_schedule_skips_past_gets_its_own_stage(schedule: list[int],
                                                           expected: list[tuple[int, str]]) -> None:
    assert plan(schedule, HEADS) == expected


def test_without_heads_every_stage_is_the_encoder_alone() -> None:
    assert plan([256, 1024], []) == [(256, THETA), (1024, THETA)]
    # no head answers 64 samples; the 128 head answers as soon as it can
    assert plan([64, 256], [128]) == [(64, THETA), (128, LABEL), (256, THETA)]


@pytest.mark.parametrize(("kinds", "expected"), [
    ([THETA], THETA), ([LABEL], LABEL), ([BOTH], BOTH), ([THETA, LABEL], BOTH), ([BOTH, LABEL], BOTH),
    ([LABEL, THETA], BOTH), ([THETA, THETA], THETA),
])
def test_stages_completing_in_one_block_compute_what_any_would(kinds: list[str], expected: str) -> None:
    assert merged(kinds) == expected
