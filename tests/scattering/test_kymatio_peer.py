"""Our first-order scattering against kymatio's ``Scattering1D`` (max_order=1), the peer of its filter design.

Same filters, padding and low-pass: the averaged first-order coefficients agree band by band up to one
known factor.  Our decimation folds a spectrum by summing its aliases (as scrapl-loss's kymatio fork
does), kymatio 0.3 averages them, so every band decimated by 2^k1 before the modulus is 2^k1 times
kymatio's.  Checked in float64 to 1e-9 relative.
"""

from __future__ import annotations

import pytest
import torch
from kymatio.scattering1d.frontend.torch_frontend import ScatteringTorch1D

from scrapl_live.scattering import JTFS
from scrapl_live.scattering import transform as tf

CONFIGS = {
    "toy": dict(shape=4096, J=8, Q1=4, Q2=1, J_fr=2, Q_fr=1, T=256),
    "granular": dict(shape=32768, J=12, Q1=8, Q2=2, J_fr=3, Q_fr=2, T=4096, F=8),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_first_order_equals_kymatio_times_alias_sum(name: str) -> None:
    cfg = CONFIGS[name]
    jtfs = JTFS(**cfg).double()
    c = jtfs.cfg
    x = torch.randn(2, cfg["shape"], generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    s = jtfs.scalogram(x, len(c.psi1))
    phi = {k: jtfs.phi[str(k)] for k in range(c.log2_t + 1)}
    ours = tf.first_order_averaged(s.groups, phi)[..., c.unpad_start : c.unpad_stop]
    peer = ScatteringTorch1D(J=cfg["J"], shape=cfg["shape"], Q=(cfg["Q1"], cfg["Q2"]), T=cfg["T"],
                             max_order=1)
    assert [(p.xi, p.sigma, p.j) for p in c.psi1] == [(f["xi"], f["sigma"], f["j"]) for f in peer.psi1_f]
    theirs = peer.double()(x)[:, 1:]  # channel 0 is the zeroth order
    scale = torch.tensor([2.0**k for k in c.k1], dtype=torch.float64)[:, None]
    assert ours.shape == theirs.shape
    torch.testing.assert_close(ours, theirs * scale, rtol=1e-9, atol=1e-9 * float(ours.abs().max()))
