r"""Copying by content: retrieve the value stored under a key, where the position to copy
from depends on the content of the source, not on the output step.

Chapter 9 (``09_copy_and_memory``), section (a). Shapes: B batch, L key–value pairs,
h features, V output vocabulary, R rare tokens.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, check_min_fields
from .copying import CopyBatch, Read, select

__all__ = ["KeyedCopyNet", "KeyedCopyTask"]


@dataclass(frozen=True)
class KeyedCopyTask:
    """Output the value stored under the query key; rare values can only be copied.

    A source holds ``length`` pairs (key, value): distinct keys drawn from
    ``num_keys`` ids, values common tokens ``0 .. vocab_size-1`` or, with probability
    ``rare_prob``, one of ``num_rare`` rare ids. The query is one of the keys, at a
    random position, so where to copy from depends on content. A batch is a
    :class:`~.copying.CopyBatch` whose ``source`` row is ``[query, keys..., values...]``
    (B, 1 + 2L) and whose ``target`` (B, 1) is the value under the query.

    Reference: content-based addressing as in Graves, Wayne & Danihelka (2014). Chapter 9.
    """

    length: int = 8
    num_keys: int = 64
    vocab_size: int = 10
    num_rare: int = 1000
    rare_prob: float = 0.3

    def __post_init__(self) -> None:
        check_min_fields(self, ("length", "num_keys", "vocab_size", "num_rare"))
        if self.num_keys < self.length:
            raise ValueError(f"num_keys must be >= length={self.length}, got {self.num_keys}")
        if not 0 <= self.rare_prob <= 1:
            raise ValueError(f"rare_prob must be in [0, 1], got {self.rare_prob}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> CopyBatch:
        """Draw a batch; the same generator state gives the same batch."""
        batch_size = check_int(batch_size, "batch_size", minimum=1)
        shape = (batch_size, self.length)
        keys = torch.rand(batch_size, self.num_keys, generator=generator).argsort(1)[:, : self.length]
        common = torch.randint(self.vocab_size, shape, generator=generator)
        rare = self.vocab_size + torch.randint(self.num_rare, shape, generator=generator)
        values = torch.where(torch.rand(shape, generator=generator) < self.rare_prob, rare, common)
        where = torch.randint(self.length, (batch_size, 1), generator=generator)  # (B, 1)
        source = torch.cat([keys.gather(1, where), keys, values], 1)  # (B, 1 + 2L)
        return CopyBatch(source, values.gather(1, where))


class KeyedCopyNet(nn.Module):
    """A pointer-generator that addresses the source by content: query key against keys.

    .. math:: s_j = (W e_q)^\\top e_{k_j} / \\sqrt h,\\quad c = \\sum_j z_j\\, e_{v_j},\\quad
       p(y) = g\\, P_{vocab}(y \\mid c, q) + (1 - g) \\sum_j z_j [v_j = y]

    ``z`` is the selection over the L pairs: ``softmax(s)`` (soft copy), a
    straight-through Gumbel-Softmax one-hot (hard copy, training) or the argmax
    one-hot (hard copy, inference). No positional features, so the same weights run
    on any number of pairs. Rare values share one "unknown" embedding: only the copy
    path can output them, and a soft read blends the values' embeddings into ``c``.

    Reference: See, Liu & Manning (2017); Graves, Wayne & Danihelka (2014). Chapter 9.
    """

    def __init__(self, task: KeyedCopyTask, hidden: int = 32) -> None:
        super().__init__()
        self.task = task
        self.key = nn.Embedding(task.num_keys, hidden)
        self.token = nn.Embedding(task.vocab_size + 1, hidden)  # last row: "unknown"
        self.query = nn.Linear(hidden, hidden, bias=False)
        self.generate = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, task.vocab_size)
        )
        self.gate = nn.Linear(2 * hidden, 1)

    def scores(self, source: Tensor) -> Tensor:
        """(B, L) copy scores of the L pairs for the query."""
        length = (source.shape[1] - 1) // 2
        q = self.query(self.key(source[:, 0]))  # (B, h)
        keys = self.key(source[:, 1 : 1 + length])  # (B, L, h)
        return torch.einsum("bh,blh->bl", q, keys) / math.sqrt(q.shape[-1])

    def probs(
        self,
        source: Tensor,
        read: Read = "soft",
        tau: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """(B, 1, V + R) output distribution over the extended vocabulary."""
        if source.dim() != 2 or source.shape[1] % 2 != 1:
            raise ValueError(f"source must have shape (B, 1 + 2L), got {tuple(source.shape)}")
        length = (source.shape[1] - 1) // 2
        values = source[:, 1 + length :]  # (B, L)
        z = select(self.scores(source), read, tau, generator)  # (B, L)
        read_value = torch.einsum("bl,blh->bh", z, self.token(values.clamp(max=self.task.vocab_size)))
        features = torch.cat([read_value, self.key(source[:, 0])], -1)  # (B, 2h)
        gen = torch.sigmoid(self.gate(features))  # (B, 1)
        vocab = F.pad(torch.softmax(self.generate(features), -1), (0, self.task.num_rare))
        copy = torch.zeros_like(vocab).scatter_add_(-1, values, z)  # (B, V + R)
        return (gen * vocab + (1 - gen) * copy).unsqueeze(1)
