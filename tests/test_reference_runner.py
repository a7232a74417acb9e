"""The peer runner itself: the reference package loads and reports the paper's path counts."""

import pytest

from tests.reference import reference_root, run_reference

pytestmark = pytest.mark.skipif(reference_root() is None, reason="scrapl-loss (test extra) not installed")


def test_reference_path_count_toy() -> None:
    out = run_reference(
        "outputs['n'] = SCRAPLLoss(shape=256, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1).n_paths", threads=1
    )
    assert out["n"] == 7
