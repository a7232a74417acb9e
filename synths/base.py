"""Parameter specs and the base class shared by every differentiable synth.

A synth maps normalised parameters ``theta: (B, U)`` in [0, 1] and integer seeds ``seed: (B,)`` to audio
``(B, 1, N)``.  This module owns everything that is the same for all synths: the normalised ↔ physical
mappings (:class:`ParamSpec`), input validation (bad input → ``ValueError`` naming the argument), the
per-seed CPU random generator (same seed ⇒ same sound on every device), a per-(device, dtype) cache of
constant tensors, and the human-friendly :meth:`Synth.render`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

Scale = Literal["linear", "log", "tan"]


@dataclass(frozen=True)
class ParamSpec:
    """One synth parameter: ``name``, ``unit``, range [``min``, ``max``], mapping ``scale``, ``default``.

    Scales (u ∈ [0, 1] is the normalised value):
    - ``linear``: ``min + (max - min)·u``;
    - ``log``: ``min·(max/min)^u`` (log-uniform; needs 0 < min < max);
    - ``tan``: symmetric range ``max·tan(warp·(2u-1)·π/2) / tan(warp·π/2)`` with ``min = -max``
      (the granular slope: fine resolution near 0, steep towards the ends).
    """

    name: str
    unit: str
    min: float
    max: float
    scale: Scale = "linear"
    default: float | None = None
    warp: float = 0.95

    def __post_init__(self) -> None:
        if not self.min < self.max:
            raise ValueError(f"ParamSpec {self.name!r}: min must be < max, got {self.min} and {self.max}")
        if self.scale == "log" and self.min <= 0:
            raise ValueError(f"ParamSpec {self.name!r}: log scale needs min > 0, got {self.min}")
        if self.scale == "tan" and not (self.min == -self.max and 0 < self.warp < 1):
            raise ValueError(f"ParamSpec {self.name!r}: tan scale needs min == -max and 0 < warp < 1")
        if self.scale not in ("linear", "log", "tan"):
            raise ValueError(f"ParamSpec {self.name!r}: unknown scale {self.scale!r}")
        if self.default is not None and not self.min <= self.default <= self.max:
            raise ValueError(
                f"ParamSpec {self.name!r}: default {self.default} outside [{self.min}, {self.max}]"
            )

    @property
    def default_value(self) -> float:
        """Physical default: ``default`` if given, else the value at u = 0.5."""
        return self.default if self.default is not None else float(self.to_physical(0.5))

    def to_physical(self, u: torch.Tensor | float) -> torch.Tensor | float:
        """Normalised u ∈ [0, 1] → physical value (differentiable for tensors)."""
        lib = torch if isinstance(u, torch.Tensor) else math
        if self.scale == "linear":
            return self.min + (self.max - self.min) * u
        if self.scale == "log":
            return self.min * (self.max / self.min) ** u
        a = self.warp * math.pi / 2
        return self.max * lib.tan(a * (2 * u - 1)) / math.tan(a)

    def to_unit(self, value: torch.Tensor | float) -> torch.Tensor | float:
        """Physical value → normalised u (inverse of :meth:`to_physical`; not clipped)."""
        lib = torch if isinstance(value, torch.Tensor) else math
        if self.scale == "linear":
            return (value - self.min) / (self.max - self.min)
        if self.scale == "log":
            return lib.log(value / self.min) / math.log(self.max / self.min)
        a = self.warp * math.pi / 2
        return (lib.atan(value * math.tan(a) / self.max) / a + 1) / 2


class Synth(nn.Module):
    """Base class: validation, seeding, physical-value helpers and constant caching.

    Subclasses set ``params``, ``sample_rate``, ``n_samples``, ``max_shift`` and implement
    ``_render(theta (B,U), seed (B,) int64 CPU, shift (B,) int64 CPU | None) -> (B, N)``.
    ``max_shift = 0`` means the synth has no time shift.
    """

    params: list[ParamSpec]
    sample_rate: int
    n_samples: int
    max_shift: int = 0

    def __init__(self) -> None:
        super().__init__()
        self._constants: dict[tuple, torch.Tensor] = {}

    # ----------------------------------------------------------------------------------------- names
    @property
    def param_names(self) -> list[str]:
        """Parameter names in theta-column order."""
        return [p.name for p in self.params]

    @property
    def n_params(self) -> int:
        """U, the width of theta."""
        return len(self.params)

    # ----------------------------------------------------------------------------------------- forward
    def forward(
        self, theta: torch.Tensor, seed: torch.Tensor, shift: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Render a batch. theta: (B, U) float32/float64 in [0, 1]; seed: (B,) int; shift: (B,) int | None.

        Returns (B, 1, N) audio with theta's dtype and device; differentiable w.r.t. theta.
        """
        seed_cpu, shift_cpu = self._validate(theta, seed, shift)
        return self._render(theta, seed_cpu, shift_cpu).unsqueeze(1)

    def _render(self, theta: torch.Tensor, seed: torch.Tensor, shift: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def _validate(
        self, theta: torch.Tensor, seed: torch.Tensor, shift: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Check the inputs; return seed and shift as int64 CPU tensors."""
        if not isinstance(theta, torch.Tensor):
            raise ValueError(f"theta must be a torch.Tensor, got {type(theta).__name__}")
        if theta.dtype not in (torch.float32, torch.float64):
            raise ValueError(f"theta must be float32 or float64, got {theta.dtype}")
        if theta.ndim != 2 or theta.shape[1] != self.n_params or theta.shape[0] == 0:
            raise ValueError(
                f"theta must have shape (B, {self.n_params}) with B >= 1, got {tuple(theta.shape)}"
            )
        values = theta.detach()
        if not torch.isfinite(values).all():
            raise ValueError("theta contains NaN or infinite values")
        if values.min() < 0 or values.max() > 1:
            bad = int(((values < 0) | (values > 1)).any(0).nonzero()[0])
            raise ValueError(f"theta must lie in [0, 1]; column {bad} ({self.params[bad].name}) does not")
        seed_cpu = self._int_vector(seed, "seed", theta.shape[0])
        if shift is None:
            return seed_cpu, None
        shift_cpu = self._int_vector(shift, "shift", theta.shape[0])
        if shift_cpu.abs().max() > self.max_shift:
            raise ValueError(
                f"shift must lie in [-{self.max_shift}, {self.max_shift}] for {type(self).__name__}"
            )
        return seed_cpu, shift_cpu

    @staticmethod
    def _int_vector(x: torch.Tensor, name: str, batch: int) -> torch.Tensor:
        """Validate a (B,) integer tensor and return it as int64 on the CPU."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor of integers, got {type(x).__name__}")
        if x.dtype.is_floating_point or x.dtype.is_complex or x.dtype == torch.bool:
            raise ValueError(f"{name} must have an integer dtype, got {x.dtype}")
        if x.shape != (batch,):
            raise ValueError(f"{name} must have shape ({batch},) to match theta, got {tuple(x.shape)}")
        return x.detach().to("cpu", torch.int64)

    # ----------------------------------------------------------------------------------------- randomness
    @staticmethod
    def draw(
        seed: torch.Tensor, fn: Callable[[torch.Generator], tuple[torch.Tensor, ...]]
    ) -> tuple[torch.Tensor, ...]:
        """Stack each output of ``fn(generator)`` over the batch, the generator re-seeded per item (CPU).

        seed: (B,) int64 → tuple of (B, *shape_i).  The draws happen on the CPU so the same seed gives the
        same sound on every device; only the draws loop over items, the rendering itself is batched.
        """
        gen = torch.Generator(device="cpu")
        items = [fn(gen.manual_seed(int(s))) for s in seed.tolist()]
        return tuple(torch.stack(col) for col in zip(*items, strict=True))

    # ----------------------------------------------------------------------------------------- constants
    def constant(self, key: str, like: torch.Tensor, build: Callable[[], torch.Tensor]) -> torch.Tensor:
        """A constant tensor (time axis, window) built once in float64 per (device, dtype) and cached."""
        ck = (key, like.device, like.dtype)
        if ck not in self._constants:
            self._constants[ck] = build().to(device=like.device, dtype=like.dtype)
        return self._constants[ck]

    # ----------------------------------------------------------------------------------------- physical units
    def to_physical(self, theta: torch.Tensor) -> dict[str, torch.Tensor]:
        """theta (B, U) in [0, 1] → {name: (B,) physical values}."""
        if theta.ndim != 2 or theta.shape[1] != self.n_params:
            raise ValueError(f"theta must have shape (B, {self.n_params}), got {tuple(theta.shape)}")
        return {p.name: p.to_physical(theta[:, i]) for i, p in enumerate(self.params)}

    def to_theta(self, values: dict[str, float | Sequence[float] | torch.Tensor]) -> torch.Tensor:
        """{name: physical value(s)} → theta (B, U) float32; missing names take their default.

        Raises ValueError for unknown names or values outside a parameter's range.
        """
        unknown = set(values) - set(self.param_names)
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {sorted(unknown)}; {type(self).__name__} has {self.param_names}"
            )
        cols = {k: torch.as_tensor(v, dtype=torch.float64).reshape(-1) for k, v in values.items()}
        batch = max((c.numel() for c in cols.values()), default=1)
        out = torch.empty(batch, self.n_params, dtype=torch.float64)
        for i, p in enumerate(self.params):
            col = cols.get(p.name, torch.tensor([p.default_value], dtype=torch.float64))
            if col.numel() not in (1, batch):
                raise ValueError(f"{p.name}: expected 1 or {batch} values, got {col.numel()}")
            if not torch.isfinite(col).all() or col.min() < p.min or col.max() > p.max:
                raise ValueError(f"{p.name} must lie in [{p.min}, {p.max}] {p.unit}, got {col.tolist()}")
            out[:, i] = p.to_unit(col).clamp(0.0, 1.0)
        return out.float()

    @torch.no_grad()
    def render(self, seed: int = 0, shift: int | None = None, **values: float) -> torch.Tensor:
        """Render one sound from physical values (defaults for the rest). Returns (N,) float32 on the CPU."""
        theta = self.to_theta(values)
        shift_t = None if shift is None else torch.tensor([shift])
        return self(theta, torch.tensor([seed]), shift_t)[0, 0]

    def random_theta(self, n: int, seed: int = 0) -> torch.Tensor:
        """n uniformly random patches (n, U) float32, reproducible from ``seed``."""
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        return torch.rand(n, self.n_params, generator=torch.Generator().manual_seed(seed))
