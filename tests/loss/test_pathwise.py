"""P-Adam / P-SAGA transform against the scrapl-loss hook, a naive re-implementation, and itself."""

from __future__ import annotations

import io

import pytest
import torch

from scrapl_live.loss.adam import adam_grad_norm_cont
from scrapl_live.loss.pathwise import PathwiseGradTransform
from tests.reference import reference_root, run_reference

SHAPES = [(3, 4), (5,), (2, 1, 3)]
P = 7  # the toy reference SCRAPLLoss(shape=256, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1) has 7 paths


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.set_num_threads(1)


def _script(n_steps: int, seed: int = 0, n_paths: int = P) -> tuple[list[int], list[list[torch.Tensor]]]:
    """A path sequence with revisits and per-step gradients for every shape in SHAPES."""
    gen = torch.Generator().manual_seed(seed)
    paths = torch.randint(0, n_paths, (n_steps,), generator=gen).tolist()
    grads = [[torch.randn(s, generator=gen) * 1e-3 for s in SHAPES] for _ in range(n_steps)]
    return paths, grads


def _params() -> list[torch.nn.Parameter]:
    return [torch.nn.Parameter(torch.zeros(s)) for s in SHAPES]


def _run_ours(tr: PathwiseGradTransform, paths: list, grads: list, t0: int = 1) -> list[list[torch.Tensor]]:
    """Optimizer-side application: one call per step, outputs are the rewritten .grad tensors."""
    out = []
    for k, (p, gs) in enumerate(zip(paths, grads, strict=True)):
        for param, g in zip(tr.params, gs, strict=True):
            param.grad = g.clone()
        tr.transform(p, step=t0 + k)
        out.append([param.grad.clone() for param in tr.params])
    return out


class NaivePaper:
    """Straight transcription of the paper's formulas: float64, full tables, explicit re-sums."""

    def __init__(self, n_paths: int, adam: bool, saga: bool, mult: float, b1=0.9, b2=0.999, eps=1e-8):
        self.P, self.adam, self.saga, self.mult = n_paths, adam, saga, mult
        self.b1, self.b2, self.eps = b1, b2, eps
        self.m = [torch.zeros(n_paths, *s, dtype=torch.float64) for s in SHAPES]
        self.v = [torch.zeros(n_paths, *s, dtype=torch.float64) for s in SHAPES]
        self.tau = [[0] * n_paths for _ in SHAPES]
        self.mem = [torch.zeros(n_paths, *s, dtype=torch.float64) for s in SHAPES]
        self.seen: list[set[int]] = [set() for _ in SHAPES]

    def step(self, grads: list[torch.Tensor], paths: list[int], t: int) -> list[torch.Tensor]:
        outs = []
        for i, g in enumerate(grads):
            g = g.double() * self.mult
            g_hats = []
            for p in paths:
                if self.adam:
                    d = (t - self.tau[i][p]) / self.P
                    self.m[i][p] = self.b1**d * self.m[i][p] + (1 - self.b1**d) * g
                    self.v[i][p] = self.b2**d * self.v[i][p] + (1 - self.b2**d) * g * g
                    m_hat = self.m[i][p] / (1 - self.b1 ** (t / self.P))
                    v_hat = self.v[i][p] / (1 - self.b2 ** (t / self.P))
                    self.tau[i][p] = t
                    g_hats.append(m_hat / (v_hat.sqrt() + self.eps))
                else:
                    g_hats.append(g)
            out = sum(g_hats) / len(g_hats)
            if self.saga:
                prev = sorted(self.seen[i])
                avg = sum((self.mem[i][q] for q in prev), torch.zeros_like(g)) / max(1, len(prev))
                out = out - sum(self.mem[i][p] for p in paths) / len(paths) + avg
                for p, gh in zip(paths, g_hats, strict=True):
                    self.mem[i][p] = gh
                    self.seen[i].add(p)
            outs.append(out)
        return outs


def _assert_close_seq(ours: list, expected: list, rtol: float = 1e-5, atol: float = 1e-6) -> None:
    for k, (a, b) in enumerate(zip(ours, expected, strict=True)):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            msg = f"step {k} param {i}"
            torch.testing.assert_close(x.double(), y.double(), rtol=rtol, atol=atol, msg=msg)


@pytest.mark.parametrize(("adam", "saga"), [(True, True), (True, False), (False, True)])
def test_paper_mode_matches_naive(adam: bool, saga: bool) -> None:
    paths, grads = _script(60, seed=1)
    tr = PathwiseGradTransform(_params(), P, use_p_adam=adam, use_p_saga=saga, grad_mult=100.0)
    naive = NaivePaper(P, adam, saga, 100.0)
    expected = [naive.step(gs, [p], k + 1) for k, (p, gs) in enumerate(zip(paths, grads, strict=True))]
    _assert_close_seq(_run_ours(tr, paths, grads), expected, rtol=1e-4, atol=1e-5)


def test_multi_path_rule_matches_naive() -> None:
    gen = torch.Generator().manual_seed(5)
    steps = [torch.randperm(P, generator=gen)[: 1 + k % 3].tolist() for k in range(40)]
    _, grads = _script(40, seed=2)
    tr = PathwiseGradTransform(_params(), P, grad_mult=100.0)
    naive = NaivePaper(P, True, True, 100.0)
    # clock in path visits, as documented for k paths per step
    clocks, t = [], 0
    for s in steps:
        t += len(s)
        clocks.append(t)
    ours, expected = [], []
    for s, gs, t in zip(steps, grads, clocks, strict=True):
        for param, g in zip(tr.params, gs, strict=True):
            param.grad = g.clone()
        tr.transform(s, step=t)
        ours.append([p.grad.clone() for p in tr.params])
        expected.append(naive.step(gs, s, t))
    _assert_close_seq(ours, expected, rtol=1e-4, atol=1e-5)


def test_single_path_list_equals_int() -> None:
    paths, grads = _script(20, seed=3)
    a = _run_ours(PathwiseGradTransform(_params(), P), paths, grads)
    b = _run_ours(PathwiseGradTransform(_params(), P), [[p] for p in paths], grads)
    _assert_close_seq(a, b, rtol=0, atol=0)


@pytest.mark.skipif(reference_root() is None, reason="scrapl-loss (test extra) not installed")
def test_reference_mode_matches_scrapl_loss_hook() -> None:
    """Feed the reference's grad_hook a scripted sequence exactly as its forward() would set it up."""
    paths, grads = _script(40, seed=4)
    combos = [(True, True), (True, False), (False, True), (False, False)]
    code = """
    params = [torch.nn.Parameter(torch.zeros(s)) for s in inputs["shapes"]]
    for adam, saga in inputs["combos"]:
        loss = SCRAPLLoss(shape=256, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1, grad_mult=1000.0,
                          use_p_adam=adam, use_p_saga=saga)
        loss.train()
        loss.attach_params(params)
        seq = []
        for p, gs in zip(inputs["paths"], inputs["grads"]):
            loss.curr_path_idx = p          # what forward(path sampled = p) sets in train mode
            loss.path_counts[p] += 1
            loss.scrapl_t += 1
            seq.append([loss.grad_hook(g.clone(), i).clone() for i, g in enumerate(gs)])
        outputs[(adam, saga)] = seq
    """
    ref = run_reference(code, {"shapes": SHAPES, "combos": combos, "paths": paths, "grads": grads}, threads=1)
    for adam, saga in combos:
        tr = PathwiseGradTransform(
            _params(), P, use_p_adam=adam, use_p_saga=saga, grad_mult=1000.0, saga_denominator="reference"
        )
        # reference clock: t = scrapl_t + 1 after the k-th forward, i.e. k + 1
        _assert_close_seq(_run_ours(tr, paths, grads, t0=2), ref[(adam, saga)])


def test_hook_form_equals_optimizer_form() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    twin = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2))
    twin.load_state_dict(model.state_dict())
    hooked = PathwiseGradTransform(list(model.parameters()), P, grad_mult=10.0)
    handles = hooked.register_hooks()
    side = PathwiseGradTransform(list(twin.parameters()), P, grad_mult=10.0)
    gen = torch.Generator().manual_seed(1)
    for step in range(1, 25):
        x = torch.randn(4, 6, generator=gen)
        path = int(torch.randint(0, P, (1,), generator=gen))
        hooked.set_paths(path, step)
        model.zero_grad(set_to_none=True)
        model(x).pow(2).sum().backward()
        twin.zero_grad(set_to_none=True)
        twin(x).pow(2).sum().backward()
        side.transform(path, step)
        for a, b in zip(model.parameters(), twin.parameters(), strict=True):
            torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
    hooked.clear_paths()  # no path set: gradients pass through unchanged
    model.zero_grad(set_to_none=True)
    model(x).pow(2).sum().backward()
    plain = [p.grad.clone() for p in model.parameters()]
    for h in handles:
        h.remove()
    model.zero_grad(set_to_none=True)
    model(x).pow(2).sum().backward()
    for a, p in zip(plain, model.parameters(), strict=True):
        torch.testing.assert_close(a, p.grad, rtol=0, atol=0)


def test_running_sum_equals_resum_after_many_steps() -> None:
    n_paths = 50
    params = [torch.nn.Parameter(torch.zeros(64, 32)), torch.nn.Parameter(torch.zeros(17))]
    tr = PathwiseGradTransform(params, n_paths, grad_mult=1e4)
    gen = torch.Generator().manual_seed(7)
    for step in range(1, 2001):
        for p in params:
            p.grad = torch.randn(p.shape, generator=gen) * 1e-4
        tr.transform(int(torch.randint(0, n_paths, (1,), generator=gen)), step)
    for i in range(len(params)):
        resum = getattr(tr, f"saga_mem_{i}").double().sum(0)
        running = getattr(tr, f"saga_sum_{i}")
        rel = (running - resum).abs().max() / resum.abs().max()
        assert rel <= 1e-5, f"param {i}: running sum drifted by {rel:.2e}"
    assert int(tr.saga_visited.sum()) == len(params) * n_paths


@pytest.mark.parametrize("table_dtype", [torch.float32, torch.bfloat16])
def test_state_round_trip_mid_sequence(table_dtype: torch.dtype) -> None:
    paths, grads = _script(40, seed=8)
    tr = PathwiseGradTransform(_params(), P, grad_mult=100.0, table_dtype=table_dtype)
    _run_ours(tr, paths[:20], grads[:20])
    buf = io.BytesIO()
    torch.save(tr.state_dict(), buf)
    cont = _run_ours(tr, paths[20:], grads[20:], t0=21)
    fresh = PathwiseGradTransform(_params(), P, grad_mult=100.0, table_dtype=table_dtype)
    buf.seek(0)
    fresh.load_state_dict(torch.load(buf, weights_only=True))
    assert int(fresh.last_step) == 20
    _assert_close_seq(_run_ours(fresh, paths[20:], grads[20:], t0=21), cont, rtol=0, atol=0)


def test_only_enabled_tables_are_allocated() -> None:
    params = _params()
    n = sum(p.numel() for p in params)
    none = PathwiseGradTransform(params, P, use_p_adam=False, use_p_saga=False)
    assert none.table_bytes() == 8  # last_step only
    adam = PathwiseGradTransform(params, P, use_p_saga=False)
    assert adam.table_bytes() == 2 * P * n * 4 + len(params) * P * 8 + 8
    half = PathwiseGradTransform(params, P, use_p_adam=False, table_dtype=torch.bfloat16)
    assert half.table_bytes() == P * n * 2 + n * 8 + len(params) * P + 8


def test_grad_mult_only_and_not_in_place() -> None:
    params = _params()
    tr = PathwiseGradTransform(params, P, use_p_adam=False, use_p_saga=False, grad_mult=3.0)
    g = torch.randn(SHAPES[0])
    out = tr.hook(0)
    tr.set_paths(2, 1)
    res = out(g)
    torch.testing.assert_close(res, 3.0 * g)
    assert res.data_ptr() != g.data_ptr()


def test_adam_grad_norm_cont_first_visit_is_sign() -> None:
    g = torch.tensor([3.0, -2.0, 0.5])
    g_hat, m, v = adam_grad_norm_cont(g, torch.zeros(3), torch.zeros(3), 1.0, 0.0)
    torch.testing.assert_close(g_hat, torch.sign(g), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(m, 0.1 * g)
    torch.testing.assert_close(v, 0.001 * g**2)


def test_bad_inputs_raise_value_error() -> None:
    params = _params()
    with pytest.raises(ValueError, match="params"):
        PathwiseGradTransform([], P)
    with pytest.raises(ValueError, match="n_paths"):
        PathwiseGradTransform(params, 0)
    with pytest.raises(ValueError, match="saga_denominator"):
        PathwiseGradTransform(params, P, saga_denominator="nope")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="table_dtype"):
        PathwiseGradTransform(params, P, table_dtype=torch.int8)
    tr = PathwiseGradTransform(params, P)
    for p in params:
        p.grad = torch.zeros_like(p)
    with pytest.raises(ValueError, match="path_idx"):
        tr.transform(P, 1)
    with pytest.raises(ValueError, match="distinct"):
        tr.transform([1, 1], 1)
    with pytest.raises(ValueError, match="step"):
        tr.transform(0, 0)
    tr.transform(0, 5)
    with pytest.raises(ValueError, match="step"):
        tr.transform(0, 4)
    params[0].grad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        tr.transform(0, 6)
    with pytest.raises(ValueError, match="param_index"):
        tr.hook(len(params))
    other = PathwiseGradTransform(params, P + 1)
    with pytest.raises(ValueError, match="state_dict"):
        other.load_state_dict(tr.state_dict())
