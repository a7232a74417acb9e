"""Conversion of the path sampler's bookkeeping (:class:`scrapl_live.loss.sampler.PathSampler`) between
its attribute form and its state-dict form.

Attributes keep the reference's Python types (``path_counts`` is a ``defaultdict(int)``, ``unsampled_paths``
a list, ``updated_path_indices`` a ``defaultdict(set)``) so user code written for scrapl-loss 0.1.0 keeps
working; the state dict holds only tensors and plain values (loadable with ``torch.load(weights_only=True)``).
``*_from_state`` accept both forms, so a checkpoint written by the reference loads too.

P-Adam/P-SAGA path tables (P, *s) are saved compactly by :func:`compact_rows`: only the rows of the
paths that were visited, with their indices.  Unvisited rows are exactly zero (never written), so
:func:`expand_rows` restores the full tables bit for bit; a full-table state dict (written before the
compact form existed) still loads as it is.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any

import torch


def counts_to_tensor(path_counts: Mapping[int, int], n_paths: int) -> torch.Tensor:
    """Visit counts per path as an int64 tensor (P,)."""
    out = torch.zeros(n_paths, dtype=torch.int64)
    for p, c in path_counts.items():
        out[int(p)] = int(c)
    return out


def counts_from_state(value: torch.Tensor | Mapping[int, int], n_paths: int) -> defaultdict[int, int]:
    """``defaultdict(int)`` holding only the visited paths, from a (P,) tensor or a mapping."""
    if isinstance(value, torch.Tensor):
        if value.shape != (n_paths,):
            raise ValueError(f"state_dict path_counts must have shape ({n_paths},), got {tuple(value.shape)}")
        value = {int(p): int(value[p]) for p in torch.nonzero(value).flatten().tolist()}
    return defaultdict(int, {int(p): int(c) for p, c in value.items()})


def index_list_to_tensor(indices: Iterable[int]) -> torch.Tensor:
    """Ordered path indices as an int64 tensor (n,); the order matters for the sampler."""
    return torch.tensor(list(indices), dtype=torch.int64)


def index_list_from_state(value: torch.Tensor | Iterable[int], n_paths: int) -> list[int]:
    """Ordered list of path indices from a tensor or an iterable; every index must be in [0, n_paths)."""
    items = value.tolist() if isinstance(value, torch.Tensor) else [int(v) for v in value]
    if any(not 0 <= p < n_paths for p in items):
        raise ValueError(f"state_dict unsampled_paths has indices outside [0, {n_paths})")
    return items


def updated_to_tensor(updated: Mapping[int, set[int]], n_theta: int, n_paths: int) -> torch.Tensor:
    """θ-IS bookkeeping 'which paths have a curvature value for θ_u' as a bool mask (n_theta, P)."""
    mask = torch.zeros(n_theta, n_paths, dtype=torch.bool)
    for u, paths in updated.items():
        mask[int(u), list(paths)] = True
    return mask


def updated_from_state(
    value: torch.Tensor | Mapping[int, Iterable[int]], n_theta: int, n_paths: int
) -> defaultdict[int, set[int]]:
    """``defaultdict(set)`` of updated path indices per θ index, from a (n_theta, P) mask or a mapping."""
    if isinstance(value, torch.Tensor):
        if value.shape != (n_theta, n_paths):
            raise ValueError(
                f"state_dict updated_path_indices must have shape ({n_theta}, {n_paths}), "
                f"got {tuple(value.shape)}"
            )
        value = {u: torch.nonzero(value[u]).flatten().tolist() for u in range(n_theta) if value[u].any()}
    return defaultdict(set, {int(u): {int(p) for p in ps} for u, ps in value.items()})


def compact_rows(
    destination: MutableMapping[str, Any], prefix: str, tables: Sequence[str], rows: torch.Tensor,
    rows_key: str,
) -> None:
    """Replace each table ``prefix + name`` (P, *s) of ``destination`` by its ``rows`` (k, *s); the row
    indices (k,) int64 go under ``prefix + rows_key``.  Lossless when every other row is zero."""
    for name in tables:
        destination[prefix + name] = destination[prefix + name].detach()[rows]
    destination[prefix + rows_key] = rows.to(torch.int64)


def expand_rows(
    state_dict: MutableMapping[str, Any], prefix: str, tables: Mapping[str, torch.Tensor], rows: Any,
    error_msgs: list[str],
) -> None:
    """Inverse of :func:`compact_rows` in ``state_dict``: each compact table becomes a full tensor shaped
    like its buffer in ``tables`` (P, *s), zero outside ``rows``.  A table that does not fit is removed
    and reported in ``error_msgs`` (the caller raises)."""
    for name, buf in tables.items():
        key = prefix + name
        if key not in state_dict:
            continue  # reported as a missing key by the caller
        value, n = state_dict[key], buf.shape[0]
        fits = (isinstance(rows, torch.Tensor) and rows.ndim == 1 and rows.dtype == torch.int64
                and isinstance(value, torch.Tensor) and tuple(value.shape) == (rows.numel(), *buf.shape[1:])
                and (rows.numel() == 0 or (int(rows.min()) >= 0 and int(rows.max()) < n))
                and rows.unique().numel() == rows.numel())
        if not fits:
            shapes = tuple(getattr(value, "shape", ())), tuple(getattr(rows, "shape", ()))
            error_msgs.append(f"{key}: compact table {shapes[0]} with row indices {shapes[1]} does not fit "
                              f"the table {tuple(buf.shape)}")
            del state_dict[key]
            continue
        full = torch.zeros_like(buf)
        full[rows.to(buf.device)] = value.to(buf.device, buf.dtype)
        state_dict[key] = full


REFERENCE_KEYS = (
    "path_counts", "unsampled_paths", "probs", "loaded_probs_path",
    "updated_path_indices", "all_log_vals", "all_log_probs",
)
EXTRA_KEYS = ("scrapl_t", "rand_gen_state")


def export_state(loss: Any) -> dict[str, Any]:
    """A PathSampler's bookkeeping as tensors / plain values (the keys of scrapl-loss plus ours)."""
    return {
        "path_counts": counts_to_tensor(loss.path_counts, loss.n_paths),
        "unsampled_paths": index_list_to_tensor(loss.unsampled_paths),
        "probs": loss.probs.clone(),
        "loaded_probs_path": loss.loaded_probs_path,
        "updated_path_indices": updated_to_tensor(loss.updated_path_indices, loss.n_theta, loss.n_paths),
        "all_log_vals": loss.all_log_vals.clone(),
        "all_log_probs": loss.all_log_probs.clone(),
        "scrapl_t": torch.tensor(loss.scrapl_t, dtype=torch.int64),
        "rand_gen_state": loss.rand_gen.get_state(),
    }


def import_state(loss: Any, state: Mapping[str, Any]) -> None:
    """Restore what :func:`export_state` wrote (or a scrapl-loss 0.1.0 state dict: its Python objects)."""
    table = (loss.n_theta, loss.n_paths)
    for key in ("all_log_vals", "all_log_probs"):
        if tuple(state[key].shape) != table:
            raise ValueError(f"state_dict {key} must have shape {table}, got {tuple(state[key].shape)}")
    probs = state["probs"].detach().double().cpu()
    if probs.shape != (loss.n_paths,):
        raise ValueError(f"state_dict probs must have shape ({loss.n_paths},), got {tuple(probs.shape)}")
    loss.path_counts = counts_from_state(state["path_counts"], loss.n_paths)
    loss.unsampled_paths = index_list_from_state(state["unsampled_paths"], loss.n_paths)
    loss.probs = probs.clone()
    loss.loaded_probs_path = state["loaded_probs_path"]
    loss.updated_path_indices = updated_from_state(state["updated_path_indices"], *table)
    loss.all_log_vals = state["all_log_vals"].detach().double().cpu().clone()
    loss.all_log_probs = state["all_log_probs"].detach().double().cpu().clone()
    if "scrapl_t" in state:
        loss.scrapl_t = int(state["scrapl_t"])
    else:  # reference checkpoints do not store the step: recover it from the visit counts
        loss.scrapl_t = sum(loss.path_counts.values())
    if "rand_gen_state" in state:
        loss.rand_gen.set_state(state["rand_gen_state"].clone())
