"""Compact P-Adam/P-SAGA state dicts: only visited table rows are saved, the load restores the full tables
bit for bit (every feature combination, hook form included), full-table state dicts still load, and a
compact table that does not fit is a ValueError."""

from __future__ import annotations

import io

import pytest
import torch

from scrapl_live.loss.pathwise import PathwiseGradTransform

P = 40
SHAPES = [(6, 5), (5,)]


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]


def _steps(tr: PathwiseGradTransform, paths: list[int], t0: int, seed: int) -> list[torch.Tensor]:
    """Optimizer-side steps on ``paths``; returns the rewritten gradients, flattened and concatenated."""
    gen = torch.Generator().manual_seed(seed)
    out = []
    for k, p in enumerate(paths):
        for param in tr.params:
            param.grad = torch.randn(param.shape, generator=gen) * 1e-3
        tr.transform(p, t0 + k)
        out.append(torch.cat([param.grad.flatten() for param in tr.params]))
    return out


def _full_state(tr: PathwiseGradTransform) -> dict[str, torch.Tensor]:
    """The state dict as written before the compact form: every buffer in full."""
    return {name: buf.clone() for name, buf in tr.named_buffers()}


def _saved(state: dict) -> dict:
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("adam,saga", [(True, True), (True, False), (False, True)])
@pytest.mark.parametrize("table_dtype", [torch.float32, torch.bfloat16])
def test_compact_state_keeps_visited_rows_and_resumes_exactly(adam: bool, saga: bool,
                                                              table_dtype: torch.dtype) -> None:
    kw = dict(use_p_adam=adam, use_p_saga=saga, grad_mult=100.0, table_dtype=table_dtype)
    tr = PathwiseGradTransform(_params(), P, **kw)
    visited = [3, 17, 3, 25, 17, 8]
    _steps(tr, visited, 1, seed=0)
    state = tr.state_dict()
    rows = sorted(set(visited))
    for i, shape in enumerate(SHAPES):
        assert state[f"table_rows_{i}"].tolist() == rows
        for name in [f"adam_m_{i}", f"adam_v_{i}"] * adam + [f"saga_mem_{i}"] * saga:
            assert tuple(state[name].shape) == (len(rows), *shape)
            torch.testing.assert_close(state[name], getattr(tr, name)[rows], rtol=0, atol=0)
    fresh = PathwiseGradTransform(_params(), P, **kw)
    fresh.load_state_dict(_saved(state))
    for (name, a), (_, b) in zip(tr.named_buffers(), fresh.named_buffers(), strict=True):
        assert torch.equal(a, b), name
    more = [25, 0, 39, 8]
    cont = _steps(tr, more, 7, seed=1)
    for a, b in zip(_steps(fresh, more, 7, seed=1), cont, strict=True):
        assert torch.equal(a, b)


def test_hook_form_marks_visited_rows_too() -> None:
    torch.manual_seed(0)
    model = torch.nn.Linear(4, 3)
    tr = PathwiseGradTransform(list(model.parameters()), P, grad_mult=10.0)
    tr.register_hooks()
    for step, path in enumerate([5, 9, 5], start=1):
        tr.set_paths(path, step)
        model.zero_grad(set_to_none=True)
        model(torch.randn(2, 4)).pow(2).sum().backward()
    state = tr.state_dict()
    assert state["table_rows_0"].tolist() == [5, 9] and state["adam_m_0"].shape == (2, 3, 4)
    for name, buf in tr.named_buffers():  # the rows left out are exactly zero: nothing is lost
        if name.startswith(("adam_m", "adam_v", "saga_mem")):
            keep = torch.zeros(P, dtype=torch.bool)
            keep[[5, 9]] = True
            assert not buf[~keep].any(), name


def test_full_table_state_dict_still_loads() -> None:
    tr = PathwiseGradTransform(_params(), P, grad_mult=100.0)
    _steps(tr, [1, 2, 30], 1, seed=2)
    old = _full_state(tr)
    assert "table_rows_0" not in old and old["adam_m_0"].shape[0] == P
    fresh = PathwiseGradTransform(_params(), P, grad_mult=100.0)
    fresh.load_state_dict(_saved(old))
    for (name, a), (_, b) in zip(tr.named_buffers(), fresh.named_buffers(), strict=True):
        assert torch.equal(a, b), name
    assert [torch.equal(a, b) for a, b in zip(_steps(tr, [2, 7], 4, seed=3), _steps(fresh, [2, 7], 4, seed=3),
                                              strict=True)] == [True, True]


def test_compact_size_scales_with_visited_paths() -> None:
    tr = PathwiseGradTransform([torch.nn.Parameter(torch.zeros(64, 64))], P, grad_mult=100.0)
    full = len(_bytes(_full_state(tr)))
    _steps(tr, [0, 1, 2, 3], 1, seed=4)
    compact = len(_bytes(tr.state_dict()))
    table = 3 * P * 64 * 64 * 4
    assert full > table and compact < table * 4 / P + 64 * 64 * 8 + 4096  # 4 rows of 3 tables + the sum


def _bytes(state: dict) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def test_compact_table_that_does_not_fit_is_rejected() -> None:
    tr = PathwiseGradTransform(_params(), P, grad_mult=100.0)
    _steps(tr, [4, 6], 1, seed=5)
    bad = tr.state_dict()
    bad["table_rows_0"] = torch.tensor([4, P], dtype=torch.int64)  # index out of range
    with pytest.raises(ValueError, match="adam_m_0"):
        PathwiseGradTransform(_params(), P, grad_mult=100.0).load_state_dict(bad)
    bad = tr.state_dict()
    bad["adam_v_1"] = bad["adam_v_1"][:1]  # fewer rows than indices
    with pytest.raises(ValueError, match="adam_v_1"):
        PathwiseGradTransform(_params(), P, grad_mult=100.0).load_state_dict(bad)
