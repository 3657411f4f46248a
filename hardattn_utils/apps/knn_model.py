"""A kNN-augmented model on a synthetic long-range retrieval task.

A stream of (key, label) pairs is written to a memory that no gradient reaches; a
query, seen much later, is a mixed and noisy copy of one stored key and asks for
its label. A learned linear encoder maps the query into key space and reads the
memory: softly (every slot) or with the top-k read (exact or with faiss). In the
spirit of Memorizing Transformers (Wu et al., 2022), much simplified.

Chapter 13 (hard selection at scale), section *Memory lookup*. Shapes: S seeds,
B queries, m slots, d features, C classes, k kept.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_int, check_real
from ..seeds import SEEDS, SeedStack
from .knn_memory import FaissIVF, soft_read_core, top_k_core

__all__ = ["KnnMemoryTask", "evaluate_knn_seeds", "train_knn_seeds"]

#: Reads the model can be trained with (label -> top-k or None for the soft read).
TRAIN_READS = ("soft attention", "exact top-k")


@dataclass
class KnnMemoryTask:
    """Memory of random unit keys with class labels; queries are mixed, noisy keys.

    .. math:: x = A k_j + \\sigma \\epsilon,\\quad y = \\text{label}_j

    Args:
        dim: d, key and query size.
        num_classes: C.
        noise: σ, the query noise (per feature; keys have norm 1).
        seed: fixes the mixing matrix A (d, d).
    """

    dim: int = 32
    num_classes: int = 16
    noise: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        check_int(self.dim, "dim", minimum=1)
        check_int(self.num_classes, "num_classes", minimum=2)
        check_real(self.noise, "noise", minimum=0.0)
        gen = torch.Generator().manual_seed(check_int(self.seed, "seed", minimum=0))
        self.mixing = torch.randn(self.dim, self.dim, generator=gen) / self.dim**0.5  # (d, d)

    def memory(self, m: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(keys (m, d) unit norm, labels (m,) in [0, C))``."""
        m = check_int(m, "m", minimum=1)
        keys = nn.functional.normalize(torch.randn(m, self.dim, generator=generator), dim=-1)
        return keys, torch.randint(self.num_classes, (m,), generator=generator)

    def queries(
        self, keys: Tensor, labels: Tensor, batch: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(x (B, d), target (B,), slot (B,))`` for B stored keys picked at random."""
        slot = torch.randint(len(keys), (check_int(batch, "batch", minimum=1),), generator=generator)
        noise = self.noise * torch.randn(len(slot), self.dim, generator=generator)
        return keys[slot] @ self.mixing.T + noise, labels[slot], slot


def _class_read(scores: Tensor, slots: Tensor | None, labels: Tensor, num_classes: int) -> Tensor:
    """Class probabilities (..., C) from read scores over kept slots (..., k) or all (..., m)."""
    weights = scores.softmax(-1)  # (..., k) or (..., m)
    kept = labels[slots] if slots is not None else labels.expand_as(weights)
    return torch.zeros(*weights.shape[:-1], num_classes).scatter_add_(-1, kept, weights)


def _read(queries: Tensor, keys: Tensor, labels: Tensor, read: str, k: int, num_classes: int) -> Tensor:
    """Training read: (S, B, d) encoded queries -> (S, B, C) class probabilities."""
    scores = queries @ keys.T  # (S, B, m)
    if read == "soft attention":
        return _class_read(scores, None, labels, num_classes)
    kept, slots = scores.topk(k, dim=-1)  # (S, B, k): the gradient reaches the k kept
    return _class_read(kept, slots, labels, num_classes)


def train_knn_seeds(
    task: KnnMemoryTask,
    read: str,
    *,
    num_steps: int = 150,
    memory_size: int = 256,
    k: int = 8,
    batch_size: int = 64,
    lr: float = 0.05,
    seeds: Iterable[int] = SEEDS,
) -> SeedStack:
    """Train one encoder per seed (together, :class:`~hardattn_utils.SeedStack`).

    Each step writes a fresh memory of ``memory_size`` pairs and asks ``batch_size``
    queries (the same for every seed); the loss is −log p(y) of the read.

    Args:
        task: the task.
        read: ``"soft attention"`` (every slot) or ``"exact top-k"`` (the k best).
        num_steps: Adam steps.
        memory_size: m during training.
        k: slots kept by the top-k read.
        batch_size: B.
        lr: Adam's learning rate.
        seeds: one encoder per seed; the data stream is seeded by the first.

    Returns:
        The trained encoders (linear d -> d, no bias). Chapter 13.
    """
    if read not in TRAIN_READS:
        raise ValueError(f"read must be one of {TRAIN_READS}, got {read!r}")
    k = check_int(k, "k", minimum=1, maximum=check_int(memory_size, "memory_size", minimum=1))
    seeds = list(seeds)
    stack = SeedStack(lambda: nn.Linear(task.dim, task.dim, bias=False), seeds)
    optimiser = torch.optim.Adam(stack.parameters(), lr=check_real(lr, "lr", minimum=0.0, open_min=True))
    gen = torch.Generator().manual_seed(seeds[0])
    for _ in range(check_int(num_steps, "num_steps", minimum=1)):
        keys, labels = task.memory(memory_size, gen)
        x, target, _ = task.queries(keys, labels, batch_size, gen)
        probs = _read(stack.apply(lambda net, q: net(q), x), keys, labels, read, k, task.num_classes)
        loss = -(probs.gather(-1, target.expand(len(seeds), -1)[..., None]) + 1e-6).log()
        optimiser.zero_grad()
        loss.mean(dim=(1, 2)).sum().backward()  # sum over seeds: each copy trains alone
        optimiser.step()
    return stack


def _seed_rows(seeds: list[int], hits: Tensor, best: Tensor | None, **fields: object) -> list[dict]:
    """One row per seed: accuracy from hits (S, B), slot found from best (S, B) or NaN."""
    return [
        {
            **fields,
            "seed": seed,
            "accuracy": float(hits[s].mean()),
            "slot found": float(best[s].float().mean()) if best is not None else float("nan"),
        }
        for s, seed in enumerate(seeds)
    ]


@torch.no_grad()
def evaluate_knn_seeds(
    stack: SeedStack,
    task: KnnMemoryTask,
    sizes: Sequence[int],
    *,
    num_queries: int = 200,
    k: int = 8,
    nprobe: int = 8,
    chunk_size: int = 2**16,
    generator: torch.Generator | None = None,
) -> pd.DataFrame:
    """Accuracy of every seed's encoder with each read, for memories of m slots.

    Reads: the soft read over all m (chunked), the exact top-k, and faiss IVF with
    nlist = ⌈√m⌉ cells and ``nprobe`` visited (top-k reads renormalise the softmax
    over the k kept). One memory and one set of queries per m, shared by the seeds.

    Args:
        stack: the trained encoders (:func:`train_knn_seeds`).
        task: the task.
        sizes: memory sizes m to test.
        num_queries: test queries per m (the same for every seed).
        k: slots kept by the top-k reads.
        nprobe: cells faiss visits per query.
        chunk_size: keys per chunk of the exact reads.
        generator: source of the test memories and queries.

    Returns:
        Rows ``m, read, seed, accuracy, slot found`` (the right slot has the best
        score). Chapter 13.
    """
    rows = []
    for m in sizes:
        keys, labels = task.memory(check_int(m, "sizes", minimum=k), generator)
        x, target, slot = task.queries(keys, labels, num_queries, generator)
        q = stack.apply(lambda net, z: net(z), x).reshape(-1, task.dim)  # (S*B, d)
        nlist = math.isqrt(m - 1) + 1  # ⌈√m⌉
        index = FaissIVF(task.dim, nlist, nprobe=min(nprobe, nlist)).add(keys)
        onehot = nn.functional.one_hot(labels, task.num_classes).float()  # (m, C)
        found = {
            "soft attention": (soft_read_core(q, keys, onehot, chunk_size), None),
            "exact top-k": top_k_core(q, keys, k, chunk_size),
            "faiss IVF": index.search(q, k),
        }
        for read, (scores, slots) in found.items():
            probs = scores if slots is None else _class_read(scores, slots, labels, task.num_classes)
            hits = (probs.argmax(-1).view(len(stack), -1) == target).float()  # (S, B)
            best = slots[:, 0].view(len(stack), -1) == slot if slots is not None else None
            rows += _seed_rows(stack.seeds, hits, best, m=m, read=read)
    return pd.DataFrame(rows)
