"""Memory reads: hard and soft key-value memory reads and "train soft, deploy hard"
helpers (the copy task is in :mod:`.copying`).

Chapter 9 (``09_copy_and_memory``), sections (b) and (c). Shapes: B batch, m memory
slots, d features.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from ..attention import hard_attention, soft_attention
from .retrieval import RetrievalBatch, RetrievalNet

__all__ = [
    "read_sharpness",
    "read_timing",
    "reader_summary",
]


@torch.no_grad()
def reader_summary(
    net: RetrievalNet, batch: RetrievalBatch, own: Literal["soft", "argmax"]
) -> dict[str, float]:
    """Accuracy of a trained memory reader, read softly and by argmax, and its sharpness.

    Args:
        net: a trained :class:`~hardattn_utils.RetrievalNet`.
        batch: test queries.
        own: the read the model was trained for (its "own read").

    Returns:
        ``{"accuracy, own read", "soft read", "argmax read", "slot found", "entropy",
        "max_weight"}`` (see :func:`read_sharpness`). Chapter 9.
    """
    if own not in ("soft", "argmax"):
        raise ValueError(f"own must be 'soft' or 'argmax', got {own!r}")
    soft, hard = (net.accuracy(batch, mode) for mode in ("soft", "argmax"))
    return {
        "accuracy, own read": (soft if own == "soft" else hard)["accuracy"],
        "soft read": soft["accuracy"],
        "argmax read": hard["accuracy"],
        "slot found": hard["retrieval"],
        **read_sharpness(net.scores(batch)),
    }


@torch.no_grad()
def read_sharpness(scores: Tensor) -> dict[str, float]:
    """How peaked the read weights ``softmax(scores)`` are.

    .. math:: H = -\\sum_i \\alpha_i \\log \\alpha_i,\\quad \\max_i \\alpha_i

    Args:
        scores: (..., m) read scores.

    Returns:
        ``{"entropy": mean entropy in nats, "max_weight": mean largest weight}``; a
        hard read has entropy 0 and max weight 1.
    """
    if not isinstance(scores, Tensor) or not scores.is_floating_point() or scores.dim() < 1:
        raise TypeError("scores must be a floating-point tensor with a last axis of positions")
    log_w = torch.log_softmax(scores, dim=-1)
    entropy = -(log_w.exp() * log_w).sum(-1)
    return {"entropy": entropy.mean().item(), "max_weight": log_w.max(-1).values.exp().mean().item()}


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _read_cases(
    keys: Tensor, values: Tensor, query: Tensor, read_only: bool
) -> dict[tuple[str, str], Callable]:
    """(read, stage) -> a function that runs it; keys, values (B, m, d), query (B, d, 1)."""
    cases: dict[tuple[str, str], Callable] = {
        ("soft", "end to end"): lambda: soft_attention((keys @ query).squeeze(-1), values),
        ("hard", "end to end"): lambda: hard_attention((keys @ query).squeeze(-1), values),
    }
    if read_only:  # the scores' softmax / argmax done: only the read of the values is timed
        scores = (keys @ query).squeeze(-1)  # (B, m)
        weights, index = torch.softmax(scores, -1).unsqueeze(1), scores.argmax(-1)  # (B, 1, m), (B,)
        rows = torch.arange(len(values))
        cases[("soft", "read only")] = lambda: weights @ values  # (B, 1, d): blends m values
        cases[("hard", "read only")] = lambda: values[rows, index]  # (B, d): copies one
    return cases


@torch.no_grad()
def read_timing(
    num_slots: list[int],
    *,
    dim: int = 64,
    batch_size: int = 64,
    repeats: int = 5,
    generator: torch.Generator | None = None,
    read_only: bool = False,
) -> pd.DataFrame:
    r"""Wall-clock time of a soft read and an argmax read of the same memory.

    Both compute the scores ``q K^T``; the soft read then blends all ``m`` values,
    the hard read copies one. Times are the best of ``repeats`` runs.

    .. math:: \text{soft: } \sum_i \mathrm{softmax}(s)_i v_i \ (O(md)),\qquad
       \text{hard: } v_{\arg\max_i s_i} \ (O(d)),\qquad s = Kq \ (O(md))

    Args:
        num_slots: memory sizes m to time.
        dim: d, the key and value size.
        batch_size: B queries read at once.
        repeats: timed runs per case.
        generator: source of the random memory.
        read_only: also time the read alone (weights or index given: the blend
            against the copy of one value), in rows with ``stage="read only"``.

    Returns:
        DataFrame with columns ``slots, read, ms`` (``read`` is "soft" or "hard"), and
        a ``stage`` column ("end to end", "read only") when ``read_only``. Chapter 9.
    """
    if not num_slots or any(m < 1 for m in num_slots):
        raise ValueError(f"num_slots must be a non-empty list of positive ints, got {num_slots!r}")
    rows = []
    for m in num_slots:
        keys, values = (torch.randn(batch_size, m, dim, generator=generator) for _ in range(2))
        query = torch.randn(batch_size, dim, 1, generator=generator)
        for (name, stage), run in _read_cases(keys, values, query, read_only).items():
            rows.append((m, name, stage, 1e3 * _best_time(run, repeats)))
    frame = pd.DataFrame(rows, columns=["slots", "read", "stage", "ms"])
    return frame if read_only else frame.drop(columns="stage")
