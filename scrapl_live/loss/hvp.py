"""θ-IS curvature operators H_u(t) = ∇_w (v_u · t) for all θ dimensions u at once (docs/method.md#θ-is).

With θ̂ = θ̂(w) (B, U) the encoder output, g = ∂L/∂θ̂ (B, U) and v_u = J^T (g ⊙ e_u) (J = ∂θ̂/∂w),
the chain rule splits the operator into a θ-space part and an encoder part:

  H_u t = J^T c_u  +  ∇²_w[(g ⊙ e_u)·θ̂] t,      c_u[b, u'] = Σ_b' ∂²L/∂θ̂[b,u']∂θ̂[b',u] · (J t)[b', u].

So the loss (the JTFS path, the costly part) is differentiated twice only ONCE per batch and path:
its θ-Hessian columns for the U directions are taken with one batched double backward and cached
(tiny: (U, B, U)); every power-iteration step then differentiates the encoder only.  (J t) is a
reverse-over-reverse JVP, and the U operators run together through ``is_grads_batched``.

``per_example=True`` uses that ∂²L/∂θ̂_b∂θ̂_b' = 0 for b ≠ b' (the loss is a mean of per-example
terms and the synth renders each item on its own), needing U directions; ``per_example=False``
takes all B·U directions and is exact for any loss.  ``params`` must influence the loss only through
θ̂ (the encoder's weights, as in the reference).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

LossFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def _grad(outputs: Any, inputs: Any, grad_outputs: Any, batched: bool, create_graph: bool) -> tuple:
    return torch.autograd.grad(
        outputs, inputs, grad_outputs=grad_outputs, retain_graph=True, create_graph=create_graph,
        materialize_grads=True, is_grads_batched=batched,
    )


@dataclass
class _Batch:
    """Cached pieces of one batch: θ̂ with its encoder graph (None if recomputed), g (B, U), θ-Hessian."""

    theta_kwargs: Mapping[str, Any]
    theta: torch.Tensor | None
    g: torch.Tensor
    h: torch.Tensor  # per example: (U, B, U) = ∂²L/∂θ̂[b,u']∂θ̂[b,u] at [u, b, u']; else (B, U, B, U)


class ThetaCurvature:
    """The U operators H_u of one path, summed over the given batches (as the reference does).

    theta_fn(**kw) -> θ̂ (B, U); synth_fn(θ̂, **skw) -> x̂ (B, C, N); loss_fn(kw["x"], x̂, path_idx) -> scalar.
    cache_graphs=True keeps, per batch, the encoder graph and the reverse-mode J^T y graph alive across
    power steps; False recomputes both (encoder forward + one backward) per application to save memory.
    The loss is never recomputed.
    """

    def __init__(
        self,
        loss_fn: LossFn,
        path_idx: int,
        theta_fn: Callable[..., torch.Tensor],
        synth_fn: Callable[..., torch.Tensor],
        theta_fn_kwargs: Sequence[Mapping[str, Any]],
        synth_fn_kwargs: Sequence[Mapping[str, Any]] | None = None,
        per_example: bool = True,
        cache_graphs: bool = True,
    ) -> None:
        self.theta_fn = theta_fn
        self.per_example = per_example
        self.cache_graphs = cache_graphs
        self.batches: list[_Batch] = []
        self._vjp_cache: dict[tuple, tuple[torch.Tensor, torch.Tensor, tuple]] = {}
        skws = synth_fn_kwargs if synth_fn_kwargs is not None else [{}] * len(theta_fn_kwargs)
        for kw, skw in zip(theta_fn_kwargs, skws, strict=True):
            theta = self._theta(kw)
            self.n_theta = theta.shape[1]
            leaf = theta.detach().requires_grad_(True)
            loss = loss_fn(kw["x"], synth_fn(leaf, **skw), path_idx)
            if loss.ndim != 0:
                raise ValueError(f"loss_fn must return a scalar, got shape {tuple(loss.shape)}")
            (g,) = torch.autograd.grad(loss, leaf, create_graph=True, materialize_grads=True)
            (h,) = _grad(g, leaf, self._directions(leaf), batched=True, create_graph=False)
            if not per_example:
                h = h.reshape(*leaf.shape, *leaf.shape).permute(2, 3, 0, 1)  # (B, U, B, U)
            self.batches.append(_Batch(kw, theta if cache_graphs else None, g.detach(), h.detach()))

    def _theta(self, kw: Mapping[str, Any]) -> torch.Tensor:
        theta = self.theta_fn(**kw)
        if not isinstance(theta, torch.Tensor) or theta.ndim != 2:
            got = getattr(theta, "shape", theta)
            raise ValueError(f"theta_fn must return a (batch, n_theta) tensor, got {got}")
        if not theta.requires_grad:
            raise ValueError("theta_fn output does not depend on params (requires_grad is False)")
        return theta

    def _directions(self, leaf: torch.Tensor) -> torch.Tensor:
        b, u = leaf.shape
        if self.per_example:
            e = torch.zeros(u, b, u, dtype=leaf.dtype, device=leaf.device)
            e[torch.arange(u), :, torch.arange(u)] = 1.0
            return e
        return torch.eye(b * u, dtype=leaf.dtype, device=leaf.device).reshape(b * u, b, u)

    def apply(
        self, params: Sequence[torch.Tensor], tangents: torch.Tensor, active: torch.Tensor
    ) -> torch.Tensor:
        """H_u t_u for u = active[k] and t_u = tangents[k]: (A, n_w) -> (A, n_w), n_w = Σ numel(params)."""
        out = torch.zeros_like(tangents)
        for bi, batch in enumerate(self.batches):
            out += self._apply_batch(bi, batch, params, tangents, active)
        return out

    def _vjp_graph(
        self, bi: int, batch: _Batch, params: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, tuple]:
        """(θ̂, y, z = J^T y) with z's graph, y (B, U) a zero leaf; cached per (batch, params) if caching."""
        key = (bi, tuple(id(p) for p in params))
        if key in self._vjp_cache:
            return self._vjp_cache[key]
        theta = batch.theta if batch.theta is not None else self._theta(batch.theta_kwargs)
        y = torch.zeros_like(theta, requires_grad=True)
        z = _grad(theta, params, y, batched=False, create_graph=True)  # J^T y, linear in y
        if self.cache_graphs:
            self._vjp_cache[key] = (theta, y, z)
        return theta, y, z

    def _apply_batch(
        self, bi: int, batch: _Batch, params: Sequence[torch.Tensor], tangents: torch.Tensor,
        active: torch.Tensor,
    ) -> torch.Tensor:
        theta, y, z = self._vjp_graph(bi, batch, params)
        n_act = tangents.shape[0]
        splits = tangents.split([p.numel() for p in params], dim=1)
        t_list = [s.reshape(n_act, *p.shape) for s, p in zip(splits, params, strict=True)]
        (jt,) = _grad(z, y, t_list, batched=True, create_graph=True)  # (A, B, U) = J t_u
        d = jt[torch.arange(n_act), :, active]  # (A, B): (J t_u)[:, u]
        if self.per_example:
            c = batch.h[active] * d.detach().unsqueeze(-1)  # (A, B, U)
        else:
            c = torch.einsum("xyzk,kz->kxy", batch.h[:, :, :, active], d.detach())
        phi = (batch.g[:, active].T * d).sum(1) + (c * theta).sum((1, 2))  # (A,)
        eye = torch.eye(n_act, dtype=phi.dtype, device=phi.device)
        hv = _grad(phi, params, eye, batched=True, create_graph=False)
        return torch.cat([h.reshape(n_act, -1) for h in hv], dim=1)


def power_iteration(
    op: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_ops: int,
    size: int,
    n_iter: int = 20,
    tol: float = 1e-4,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """Dominant eigenvalue of each of ``n_ops`` operators of dimension ``size``, iterated together: (n_ops,).

    op(vectors (A, size), active (A,) operator indices) -> (A, size).  As the reference's
    ``power_iteration``: start from U[0, 1) (here from a seeded ``generator``), Rayleigh estimate
    λ = v·Hv with unit v, stop an operator once |Δλ/λ| < tol or after n_iter steps; λ = 0 if Hv = 0.
    """
    vec = torch.rand(n_ops, size, generator=generator, dtype=torch.float32).to(device)
    vec = vec / vec.norm(dim=1, keepdim=True)
    lam = torch.zeros(n_ops, dtype=torch.float64)
    prev = torch.zeros(n_ops, dtype=torch.float64)
    active = torch.arange(n_ops)
    for _ in range(n_iter):
        hv = op(vec[active], active.to(vec.device))
        norms = hv.norm(dim=1)
        est = (vec[active] * hv).sum(1).double().cpu()
        zero = (norms == 0).cpu()
        est[zero] = 0.0
        lam[active] = est
        err = torch.where(est == 0, torch.ones_like(est), ((est - prev[active]) / est).abs())
        prev[active] = est
        vec[active] = hv / norms.clamp(min=torch.finfo(hv.dtype).tiny).unsqueeze(1)
        active = active[(err >= tol) & ~zero]
        if active.numel() == 0:
            break
    return lam
