"""Time and memory of the memory readers side by side, and the leaderboard row.

Chapter 13 (hard selection at scale), section *Memory lookup*; chapter 14 takes
its memory-lookup row from :func:`memory_board`. Shapes: B queries, m slots,
d features, k kept.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence

import faiss
import pandas as pd
import torch
from torch import Tensor
from torch.utils.benchmark import Timer

from .._checks import check_int, check_real
from .knn_memory import FaissIVF, check_memory, recall_at_k, soft_read_core, top_k_core

__all__ = ["clustered_keys", "memory_benchmark", "memory_board", "recall_sweep"]

#: The three readers, by their labels in tables and figures.
READERS = ("soft attention", "exact top-k", "faiss IVF")


def clustered_keys(
    m: int,
    dim: int,
    *,
    num_clusters: int = 1024,
    spread: float = 0.5,
    generator: torch.Generator | None = None,
) -> Tensor:
    r"""Unit-norm keys around random centres, as learned embeddings cluster.

    .. math:: k_i = \frac{c_{z_i} + \sigma \epsilon_i}{\lVert c_{z_i} + \sigma \epsilon_i \rVert},
       \quad c \sim \mathcal N(0, I),\ \epsilon_i \sim \mathcal N(0, I)

    Args:
        m: number of keys.
        dim: d.
        num_clusters: number of centres.
        spread: σ, the spread around a centre.
        generator: source of randomness.

    Returns:
        (m, d) float32 keys. Chapter 13.
    """
    m, dim = check_int(m, "m", minimum=1), check_int(dim, "dim", minimum=1)
    num_clusters = check_int(num_clusters, "num_clusters", minimum=1)
    spread = check_real(spread, "spread", minimum=0.0)
    centres = torch.randn(num_clusters, dim, generator=generator)  # (C, d)
    which = torch.randint(num_clusters, (m,), generator=generator)  # (m,)
    keys = centres[which].add_(torch.randn(m, dim, generator=generator), alpha=spread)
    return torch.nn.functional.normalize(keys, dim=-1)


def _min_seconds(fn: Callable[[], object], min_run_time: float) -> float:
    """Fastest run of ``fn``, CPU time of this thread (one torch thread)."""
    timer = Timer("fn()", globals={"fn": fn}, num_threads=1, timer=time.thread_time)
    return min(timer.blocked_autorange(min_run_time=min_run_time).times)


def _readers(
    queries: Tensor, keys: Tensor, values: Tensor, index: FaissIVF, k: int, chunk: int
) -> dict[str, Callable[[], Tensor]]:
    """label -> a function that reads the memory for all queries (B, d) -> (B, dv)."""

    def top_k() -> Tensor:
        scores, slots = top_k_core(queries, keys, k, chunk)  # (B, k)
        return (scores.softmax(-1).unsqueeze(-1) * values[slots]).sum(1)

    def faiss_ivf() -> Tensor:
        scores, slots = index.search(queries, k)  # (B, k)
        return (scores.softmax(-1).unsqueeze(-1) * values[slots]).sum(1)

    soft = lambda: soft_read_core(queries, keys, values, len(keys))  # noqa: E731 (one pass)
    return dict(zip(READERS, (soft, top_k, faiss_ivf), strict=True))


def _temporary(reader: str, batch: int, m: int, k: int, chunk: int) -> int:
    """Bytes of the largest temporary, counted from shapes (float32 scores, int64 ids)."""
    if reader == "soft attention":
        return 4 * batch * m  # (B, m) scores, then weights of the same shape
    if reader == "exact top-k":
        return 4 * batch * min(chunk, m) + 12 * batch * k * math.ceil(m / chunk)  # chunk + kept
    return 12 * batch * k  # faiss: (B, k) scores and ids; its lists are scanned in place


@torch.no_grad()
def memory_benchmark(
    sizes: Sequence[int],
    *,
    dim: int = 32,
    batch_size: int = 16,
    k: int = 10,
    chunk_size: int = 2**16,
    nprobe: int = 8,
    min_run_time: float = 0.1,
    generator: torch.Generator | None = None,
) -> pd.DataFrame:
    r"""The soft read, the exact top-k read and faiss IVF, timed side by side per m.

    For every m: clustered unit keys (:func:`clustered_keys`), random values (m, d),
    B queries that are noisy copies of stored keys, and a :class:`FaissIVF` with
    nlist = ⌈√m⌉ cells. Each reader is timed with ``torch.utils.benchmark.Timer``
    (one thread, ``time.thread_time``, ``blocked_autorange``, the fastest block);
    all readers of one m are timed one after the other in the same call.

    .. math:: \text{cost: soft } O(Bmd),\quad \text{top-}k\ O(Bmd),\quad
       \text{IVF } O(B(\sqrt m + \tfrac{\text{nprobe}}{\sqrt m} m) d)

    Args:
        sizes: memory sizes m.
        dim: d (keys and values).
        batch_size: B queries read at once.
        k: slots kept by the top-k readers (and for recall@k).
        chunk_size: keys per chunk of the exact top-k search.
        nprobe: cells faiss visits per query.
        min_run_time: seconds ``blocked_autorange`` spends per reader at least.
        generator: source of the memory and the queries.

    Returns:
        One row per (m, reader): ``m, reader, ms`` (per batch), ``soft / reader`` (time
        ratio), ``recall@k`` (against the exact top-k), ``data MB`` (keys, values and
        the index), ``temporary MB`` (largest temporary, from shapes) and ``build s``
        (faiss: training and adding, thread CPU time). Reference: Johnson et al. (2019);
        chapter 13.
    """
    rows = []
    for m in sizes:
        m = check_int(m, "sizes", minimum=k)
        keys = clustered_keys(m, dim, generator=generator)  # (m, d)
        values = torch.randn(m, dim, generator=generator)  # (m, d)
        picked = torch.randint(m, (batch_size,), generator=generator)
        queries = keys[picked] + 0.3 / dim**0.5 * torch.randn(batch_size, dim, generator=generator)
        start = time.thread_time()
        index = FaissIVF(dim, math.isqrt(m - 1) + 1, nprobe=min(nprobe, math.isqrt(m - 1) + 1))
        index.add(keys)
        build = time.thread_time() - start
        exact = top_k_core(queries, keys, k, chunk_size)[1]  # (B, k)
        recall = {"soft attention": 1.0, "exact top-k": 1.0}
        recall["faiss IVF"] = recall_at_k(index.search(queries, k)[1], exact)
        data = 8 * m * dim
        for reader, fn in _readers(queries, keys, values, index, k, chunk_size).items():
            rows.append(
                {
                    "m": m,
                    "reader": reader,
                    "ms": 1e3 * _min_seconds(fn, min_run_time),
                    "recall@k": recall[reader],
                    "data MB": (data + (index.bytes() if reader == "faiss IVF" else 0)) / 1e6,
                    "temporary MB": _temporary(reader, batch_size, m, k, chunk_size) / 1e6,
                    "build s": build if reader == "faiss IVF" else 0.0,
                }
            )
    frame = pd.DataFrame(rows)
    soft = frame["m"].map(frame[frame["reader"] == "soft attention"].set_index("m")["ms"])
    return frame.assign(**{"soft / reader": soft / frame["ms"]})


def memory_board(m: int = 100_000, *, generator: torch.Generator | None = None) -> pd.DataFrame:
    """The memory-lookup row of chapter 14's leaderboard (about a second).

    One side-by-side run of :func:`memory_benchmark` at one m (d = 32, B = 16,
    k = 10, nprobe = 8).

    Args:
        m: memory size.
        generator: source of the memory (default: seed 0).

    Returns:
        One row: ``m``, ``soft / exact top-k`` and ``soft / faiss IVF`` (time ratios,
        > 1 means faster than the soft read), ``faiss recall@k``. Chapter 14.
    """
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    bench = memory_benchmark([m], generator=generator, min_run_time=0.05).set_index("reader")
    return pd.DataFrame(
        [
            {
                "m": m,
                "soft / exact top-k": bench.loc["exact top-k", "soft / reader"],
                "soft / faiss IVF": bench.loc["faiss IVF", "soft / reader"],
                "faiss recall@k": bench.loc["faiss IVF", "recall@k"],
            }
        ]
    )


@torch.no_grad()
def recall_sweep(
    keys: Tensor, queries: Tensor, *, nlist: int, nprobes: Sequence[int], k: int = 10
) -> pd.DataFrame:
    r"""Recall@k of one :class:`FaissIVF` against the exact top-k, for several nprobe.

    .. math:: \text{scored} = \frac{\#\{\text{keys whose score faiss computed}\}}{Bm}

    Args:
        keys: (m, d) the memory.
        queries: (B, d).
        nlist: cells of the index (trained once, on a subsample of the keys).
        nprobes: cells visited per query, one row each.
        k: slots kept.

    Returns:
        Rows ``nprobe, recall@k, scored`` (the fraction of the m keys faiss scored per
        query, from faiss's own counter). Chapter 13.
    """
    check_memory(queries, keys)
    k = check_int(k, "k", minimum=1, maximum=len(keys))
    exact = top_k_core(queries, keys, k, 2**16)[1]  # (B, k)
    index, stats, rows = FaissIVF(keys.shape[1], nlist).add(keys), faiss.cvar.indexIVF_stats, []
    for nprobe in nprobes:
        index.nprobe = nprobe
        stats.reset()
        found = index.search(queries, k)[1]  # (B, k)
        scored = stats.ndis / (len(queries) * len(keys))
        rows.append({"nprobe": nprobe, "recall@k": recall_at_k(found, exact), "scored": scored})
    return pd.DataFrame(rows)
