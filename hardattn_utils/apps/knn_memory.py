"""Reads over a large memory: the exact soft read, the exact top-k read and
approximate top-k search with faiss, and their recall.

Chapter 13 (hard selection at scale), section *Memory lookup*. Shapes: B queries,
m memory slots (keys), d key features, dv value features, k kept slots. The timing
and the leaderboard row live in :mod:`.knn_bench`, the kNN-augmented model in
:mod:`.knn_model`.
"""

from __future__ import annotations

import math

import faiss
import numpy as np
import torch
from torch import Tensor

from .._checks import check_int, check_tensor

__all__ = [
    "FaissIVF",
    "memory_soft_read",
    "memory_top_k",
    "memory_top_k_read",
    "recall_at_k",
]


def check_rows(x: object, name: str, dim: int | None = None) -> Tensor:
    """``x`` as a finite float tensor (rows, features), with ``dim`` features if given."""
    x = check_tensor(x, name)
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (rows, features), got {tuple(x.shape)}")
    if dim is not None and x.shape[1] != dim:
        raise ValueError(f"{name} must have d = {dim} features, got {x.shape[1]}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return x


def check_memory(queries: object, keys: object, values: object | None = None) -> None:
    """Queries (B, d), keys (m, d) and values (m, dv): float, finite, shapes agreeing."""
    keys = check_rows(keys, "keys")
    if keys.shape[0] == 0:
        raise ValueError("keys must hold at least one slot (the memory is empty)")
    check_rows(queries, "queries", keys.shape[1])
    if values is not None and check_rows(values, "values").shape[0] != keys.shape[0]:
        raise ValueError(f"values have {values.shape[0]} rows for {keys.shape[0]} keys")


def _chunk(chunk_size: int | None, m: int) -> int:
    return m if chunk_size is None else check_int(chunk_size, "chunk_size", minimum=1)


def memory_soft_read(
    queries: Tensor, keys: Tensor, values: Tensor, *, chunk_size: int | None = None
) -> Tensor:
    r"""The exact soft read of a memory: every slot, weighted by the softmax of its score.

    With ``chunk_size`` the keys are visited in chunks with a running maximum and sum
    (the online softmax), so the largest temporary is (B, chunk) instead of (B, m);
    the result is the same up to rounding.

    .. math:: r = \sum_{i=1}^m \frac{e^{q^\top k_i}}{\sum_j e^{q^\top k_j}}\, v_i

    Args:
        queries: (B, d).
        keys: (m, d).
        values: (m, dv).
        chunk_size: keys per chunk; ``None`` scores all m at once.

    Returns:
        (B, dv) the read values. Reference: Graves et al. (2014); chapter 13.
    """
    check_memory(queries, keys, values)
    return soft_read_core(queries, keys, values, _chunk(chunk_size, len(keys)))


def soft_read_core(queries: Tensor, keys: Tensor, values: Tensor, chunk: int) -> Tensor:
    """Unchecked :func:`memory_soft_read` with ``chunk`` keys per chunk."""
    top = queries.new_full((len(queries), 1), -math.inf)  # (B, 1) running maximum
    total = queries.new_zeros(len(queries), 1)  # (B, 1) running sum of exp
    read = queries.new_zeros(len(queries), values.shape[1])  # (B, dv) running blend
    for start in range(0, len(keys), chunk):
        scores = queries @ keys[start : start + chunk].T  # (B, chunk)
        new_top = torch.maximum(top, scores.amax(-1, keepdim=True))  # (B, 1)
        scale, weights = (top - new_top).exp(), (scores - new_top).exp()  # (B, 1), (B, chunk)
        total = total * scale + weights.sum(-1, keepdim=True)
        read = read * scale + weights @ values[start : start + chunk]  # (B, dv)
        top = new_top
    return read / total


def _top_k_first(scores: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k largest of each row, ties broken towards the lower column, in column order.

    Returns (scores (B, k), columns (B, k)); ``torch.topk`` picks among tied values
    arbitrarily, so ties at the k-th value are resolved here by position.
    """
    best, columns = scores.topk(k, dim=-1)  # (B, k)
    kth = best[:, -1:]  # (B, 1) the k-th largest value
    if bool(((scores >= kth).sum(-1) == k).all()):  # no tie at the k-th value: unique
        columns = columns.sort(-1).values
        return scores.gather(-1, columns), columns
    above, tied = scores > kth, scores == kth  # (B, n)
    need = k - above.sum(-1, keepdim=True)  # (B, 1) tied columns still to take
    keep = above | (tied & (tied.cumsum(-1) <= need))  # (B, n): exactly k per row
    columns = keep.nonzero()[:, 1].view(len(scores), k)  # (B, k) ascending
    return scores.gather(-1, columns), columns


def memory_top_k(
    queries: Tensor, keys: Tensor, k: int, *, chunk_size: int | None = None
) -> tuple[Tensor, Tensor]:
    r"""The exact top-k slots of a memory by inner product, as a full sort would give.

    Each chunk of keys keeps its k best; the candidates are merged at the end, so the
    largest temporary is (B, chunk). Ties go to the lower index, as in a stable sort.

    .. math:: \mathrm{top}_k(q) = \operatorname{arg\,top\text{-}k}_{i \le m}\ q^\top k_i

    Args:
        queries: (B, d).
        keys: (m, d).
        k: slots kept, ``1 <= k <= m``.
        chunk_size: keys per chunk; ``None`` scores all m at once.

    Returns:
        ``(scores, indices)``, both (B, k), best first. Reference: Wu et al. (2022);
        chapter 13.
    """
    check_memory(queries, keys)
    k = check_int(k, "k", minimum=1, maximum=len(keys))
    return top_k_core(queries, keys, k, _chunk(chunk_size, len(keys)))


def top_k_core(queries: Tensor, keys: Tensor, k: int, chunk: int) -> tuple[Tensor, Tensor]:
    """Unchecked :func:`memory_top_k` with ``chunk`` keys per chunk."""
    kept_scores, kept_index = [], []
    for start in range(0, len(keys), chunk):
        scores = queries @ keys[start : start + chunk].T  # (B, chunk)
        best, columns = _top_k_first(scores, min(k, scores.shape[1]))
        kept_scores.append(best)
        kept_index.append(columns + start)
    scores, index = torch.cat(kept_scores, -1), torch.cat(kept_index, -1)  # ascending index
    best, columns = _top_k_first(scores, k)  # (B, k), (B, k)
    order = best.sort(dim=-1, descending=True, stable=True).indices  # ties keep index order
    return best.gather(-1, order), index.gather(-1, columns.gather(-1, order))


def memory_top_k_read(
    queries: Tensor,
    keys: Tensor,
    values: Tensor,
    k: int,
    *,
    chunk_size: int | None = None,
    weights: str = "softmax",
) -> Tensor:
    r"""The hard top-k read: keep the k best slots, then blend only those.

    ``weights="softmax"`` renormalises the softmax over the k kept scores (as
    kNN attention does); ``"mean"`` averages the k kept values (the hard average).
    With k = m and softmax weights it is the soft read; with k = 1, a hard read.

    .. math:: r = \sum_{i \in \mathrm{top}_k(q)}
       \frac{e^{q^\top k_i}}{\sum_{j \in \mathrm{top}_k(q)} e^{q^\top k_j}}\, v_i

    Args:
        queries: (B, d).
        keys: (m, d).
        values: (m, dv).
        k: slots kept.
        chunk_size: keys per chunk for the search; ``None`` scores all m at once.
        weights: ``"softmax"`` or ``"mean"``.

    Returns:
        (B, dv). Reference: Wu et al. (2022); chapter 13.
    """
    check_memory(queries, keys, values)
    k = check_int(k, "k", minimum=1, maximum=len(keys))
    if weights not in ("softmax", "mean"):
        raise ValueError(f"weights must be 'softmax' or 'mean', got {weights!r}")
    scores, index = top_k_core(queries, keys, k, _chunk(chunk_size, len(keys)))  # (B, k)
    w = scores.softmax(-1) if weights == "softmax" else torch.full_like(scores, 1 / k)
    return (w.unsqueeze(-1) * values[index]).sum(1)  # (B, k, dv) -> (B, dv)


def recall_at_k(approx_indices: Tensor, exact_indices: Tensor) -> float:
    r"""Fraction of the exact top-k slots that an approximate search also returned.

    .. math:: \mathrm{recall@}k = \frac{1}{B}\sum_b \frac{|A_b \cap E_b|}{k}

    Args:
        approx_indices: (B, k) integer slots from the approximate search (``-1``,
            faiss's "nothing found", counts as a miss).
        exact_indices: (B, k) integer slots of the exact top-k, distinct per row.

    Returns:
        Recall in [0, 1]. Reference: Johnson et al. (2019); chapter 13.
    """
    for name, x in (("approx_indices", approx_indices), ("exact_indices", exact_indices)):
        if not isinstance(x, Tensor) or x.is_floating_point() or x.dim() != 2:
            raise TypeError(f"{name} must be an integer tensor of shape (B, k)")
    if approx_indices.shape != exact_indices.shape or exact_indices.numel() == 0:
        raise ValueError(
            f"approx_indices {tuple(approx_indices.shape)} and exact_indices "
            f"{tuple(exact_indices.shape)} must have the same non-empty shape"
        )
    found = (approx_indices.unsqueeze(-1) == exact_indices.unsqueeze(-2)).any(-1)  # (B, k)
    return float(found.float().mean())


class FaissIVF:
    """Approximate inner-product search: faiss's inverted-file index ``IndexIVFFlat``.

    k-means splits the keys into ``nlist`` cells (trained on a random subsample of
    ``train_size`` keys); a query scores only the keys of its ``nprobe`` nearest
    cells. ``nprobe = nlist`` scores every key: exact search.

    Args:
        dim: d, the key size.
        nlist: number of cells.
        nprobe: cells visited per query (settable later).
        train_size: keys used to train k-means (default ``40 * nlist``).
        seed: seed of the subsample and of faiss's k-means.

    Reference: Johnson et al. (2019); Douze et al. (2024). Chapter 13.
    """

    def __init__(
        self, dim: int, nlist: int, *, nprobe: int = 1, train_size: int | None = None, seed: int = 0
    ) -> None:
        self.dim = check_int(dim, "dim", minimum=1)
        self.nlist = check_int(nlist, "nlist", minimum=1)
        self.train_size = check_int(train_size or 40 * nlist, "train_size", minimum=nlist)
        self.seed = check_int(seed, "seed", minimum=0)
        self.index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        self.index.cp.seed = self.seed
        self.index.cp.min_points_per_centroid = 1  # small memories: no warning on stderr
        self.nprobe = nprobe

    @property
    def nprobe(self) -> int:
        """Cells visited per query."""
        return self.index.nprobe

    @nprobe.setter
    def nprobe(self, value: int) -> None:
        self.index.nprobe = check_int(value, "nprobe", minimum=1, maximum=self.nlist)

    def __len__(self) -> int:
        return self.index.ntotal

    def add(self, keys: Tensor) -> FaissIVF:
        """Add keys (m, d); the first call trains the cells on a subsample of them."""
        check_rows(keys, "keys", self.dim)
        data = np.ascontiguousarray(keys.detach().cpu().numpy(), dtype=np.float32)
        if not self.index.is_trained:
            if len(data) < self.nlist:
                raise ValueError(f"keys: need at least nlist = {self.nlist} to train, got {len(data)}")
            gen = torch.Generator().manual_seed(self.seed)
            sample = torch.randperm(len(data), generator=gen)[: self.train_size].numpy()
            self.index.train(data[np.sort(sample)])
        self.index.add(data)
        return self

    def search(self, queries: Tensor, k: int) -> tuple[Tensor, Tensor]:
        """The (approximately) best k keys: ``(scores, indices)``, both (B, k), best first."""
        if len(self) == 0:
            raise ValueError("the index is empty: add keys first")
        check_rows(queries, "queries", self.dim)
        k = check_int(k, "k", minimum=1, maximum=len(self))
        data = np.ascontiguousarray(queries.detach().cpu().numpy(), dtype=np.float32)
        scores, index = self.index.search(data, k)
        return torch.from_numpy(scores), torch.from_numpy(index)

    def bytes(self) -> int:
        """Memory of the index: the stored keys, their ids and the cell centroids."""
        return len(self) * (4 * self.dim + 8) + self.nlist * 4 * self.dim
