"""Filterbank, padding and path enumeration against the paper configurations and scrapl-loss's arrays."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch

from scrapl_live.scattering import JTFS
from scrapl_live.scattering import filters as fb
from tests.reference import run_reference

GRANULAR = dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8)
DRUMS = dict(shape=44100, J=12, Q1=8, Q2=2, J_fr=5, Q_fr=2, T=2048, F=1)
TOY = dict(shape=1024, J=3, Q1=1, Q2=1, J_fr=2, Q_fr=1)


def test_first_and_second_order_families_match_verified_numbers() -> None:
    psi1, psi2 = fb.wavelet_specs(12, 8), fb.wavelet_specs(12, 2)
    assert len(psi1) == 86
    assert Counter(p.j for p in psi1) == {0: 10, **{j: 8 for j in range(1, 9)}, 9: 7, 10: 4, 11: 1}
    assert psi1[0].xi == pytest.approx(0.4354, abs=1e-4) and psi1[-1].xi == pytest.approx(6.3e-5, rel=0.05)
    assert len(psi2) == 25
    assert [p.j for p in psi2] == [0, 0, 0, 0] + [j for j in range(1, 11) for _ in range(2)] + [11]
    assert psi2[0].xi == pytest.approx(0.35) and psi2[1].xi == pytest.approx(0.2475, abs=1e-4)


@pytest.mark.parametrize(("j_fr", "js"), [(3, [0, 0, 0, 0, 1, 1, 2]), (5, [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4])])
def test_frequential_family_is_lowpass_then_both_spins(j_fr: int, js: list[int]) -> None:
    specs = fb.frequential_specs(j_fr, 2)
    k = len(js)
    assert len(specs) == 1 + 2 * k and specs[0].xi == 0 and specs[0].j == j_fr
    assert [p.j for p in specs[1 : k + 1]] == js and [p.j for p in specs[k + 1 :]] == js
    assert all(p.xi > 0 for p in specs[1 : k + 1]) and all(p.xi < 0 for p in specs[k + 1 :])
    assert [-p.xi for p in specs[k + 1 :]] == [p.xi for p in specs[1 : k + 1]]
    assert specs[1].xi == pytest.approx(0.35)
    if j_fr == 3:
        assert specs[k].xi == pytest.approx(0.0309, abs=1e-4)


def test_morlet_has_zero_mean_and_unit_l1_norm() -> None:
    spec = fb.morlet_spectrum(4096, 0.2, 0.02)
    assert abs(spec[0]) < 1e-12
    assert np.abs(np.fft.ifft(spec)).sum() == pytest.approx(1.0)
    levels = fb.alias_levels(spec, 3)
    assert [len(v) for v in levels] == [4096, 2048, 1024]
    assert levels[2].sum() == pytest.approx(spec.sum())


@pytest.mark.parametrize(
    ("cfg", "n_pad", "pad_left", "n_fr", "n_paths"),
    [(GRANULAR, 65536, 16384, 168, 315), (DRUMS, 131072, 43486, 96, 483), (TOY, 2048, 512, 36, 7)],
)
def test_padding_and_path_counts(cfg: dict, n_pad: int, pad_left: int, n_fr: int, n_paths: int) -> None:
    jtfs = JTFS(**cfg)
    assert (jtfs.cfg.n_pad, jtfs.cfg.pad_left, jtfs.cfg.n_fr_pad, jtfs.n_paths) == (
        n_pad,
        pad_left,
        n_fr,
        n_paths,
    )
    assert jtfs.meta["n1_max"].max() <= 86


def test_granular_key_layout_and_n1_max() -> None:
    jtfs = JTFS(**GRANULAR)
    assert all(
        jtfs.scrapl_keys[15 * (n2 - 4) + n_fr] == (n2, n_fr) for n2 in range(4, 25) for n_fr in range(15)
    )
    j2_to_n1 = {int(j2): int(n) for j2, n in zip(jtfs.meta["j2"], jtfs.meta["n1_max"], strict=True)}
    assert j2_to_n1 == {**{j2: 10 + 8 * (j2 - 1) for j2 in range(1, 10)}, 10: 81, 11: 85}


@pytest.fixture(scope="module")
def reference_filters() -> dict:
    code = """
for name, cfg in inputs.items():
    loss = SCRAPLLoss(**cfg)
    j = loss.jtfs
    lv = lambda f: [torch.as_tensor(t).reshape(-1).double() for t in f['levels']]
    outputs[name] = dict(
        keys=loss.scrapl_keys, psi1=[lv(p)[0] for p in j.psi1_f], psi2=[lv(p) for p in j.psi2_f],
        phi=lv(j.phi_f),
        psi_fr=[lv(p)[0] for p in j.filters_fr[1]], phi_fr=lv(j.filters_fr[0]),
        xi_fr=[p['xi'] for p in j.filters_fr[1]], j_fr=[p['j'] for p in j.filters_fr[1]])
"""
    return run_reference(code, {"granular": GRANULAR, "drums": DRUMS, "toy": TOY})


@pytest.mark.slow
@pytest.mark.parametrize("name", ["granular", "drums", "toy"])
def test_filter_arrays_equal_reference(reference_filters: dict, name: str) -> None:
    ref = reference_filters[name]
    jtfs = JTFS(**{"granular": GRANULAR, "drums": DRUMS, "toy": TOY}[name])
    assert jtfs.scrapl_keys == [tuple(k) for k in ref["keys"]]
    assert [p.xi for p in jtfs.cfg.psi_fr] == pytest.approx(ref["xi_fr"])
    assert [p.j for p in jtfs.cfg.psi_fr] == ref["j_fr"]

    def close(ours: torch.Tensor, theirs: torch.Tensor) -> None:
        torch.testing.assert_close(
            ours.double(), theirs.double(), rtol=0, atol=1e-6 * float(theirs.abs().max())
        )

    cfg = jtfs.cfg
    psi1 = np.stack([fb.morlet_spectrum(cfg.n_pad, p.xi, p.sigma) for p in cfg.psi1])
    close(torch.from_numpy(psi1), torch.stack(ref["psi1"]))
    for n2 in cfg.valid_n2:
        psi2 = fb.morlet_spectrum(cfg.n_pad, cfg.psi2[n2].xi, cfg.psi2[n2].sigma)
        levels = fb.alias_levels(psi2, cfg.psi2[n2].j)
        for k in cfg.k1_levels(n2):
            close(torch.from_numpy(levels[k]), ref["psi2"][n2][k])
    phi = fb.alias_levels(fb.morlet_spectrum(cfg.n_pad, 0.0, fb.SIGMA0 / cfg.T), cfg.log2_t + 1)
    for k in range(cfg.log2_t + 1):
        close(torch.from_numpy(phi[k]), ref["phi"][k])
    psi_fr = np.stack([fb.morlet_spectrum(cfg.n_fr_pad, p.xi, p.sigma) for p in cfg.psi_fr])
    close(torch.from_numpy(psi_fr), torch.stack(ref["psi_fr"]))
    for k in range(cfg.log2_f + 1):
        close(jtfs._get(f"phi_fr_{k}"), ref["phi_fr"][k])
