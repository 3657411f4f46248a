"""Copying rare tokens: a copy task, a pointer-generator copy model, its objective,
accuracy and seeded training.

Chapter 9 (``09_copy_and_memory``), section (a). Shapes: B batch, L sequence length,
h features, V output vocabulary.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, check_min_fields
from ..categorical import one_hot
from ..sampling import gumbel_softmax
from ..seeds import SEEDS, over_seeds
from ..sparse import entmax15, sparsemax
from ..train import fit

__all__ = [
    "CopyBatch",
    "CopyNet",
    "CopyTask",
    "copy_accuracy",
    "copy_objective",
    "train_copy_seeds",
]

READS = ("soft", "st_gumbel", "argmax", "sparsemax", "entmax15")
#: the reads a model can be trained with (the sparse maps: chapter 12)
TRAINED = ("soft", "st_gumbel", "sparsemax", "entmax15")
Read = Literal["soft", "st_gumbel", "argmax", "sparsemax", "entmax15"]
TrainedRead = Literal["soft", "st_gumbel", "sparsemax", "entmax15"]


@dataclass(frozen=True)
class CopyBatch:
    """One batch of the copy task.

    Attributes:
        source: (B, L) long token ids; ids ``>= vocab_size`` are rare (outside the output vocabulary).
        target: (B, L) long, the source reversed.
    """

    source: Tensor
    target: Tensor


@dataclass(frozen=True)
class CopyTask:
    """Output the source sequence reversed; rare tokens can only be copied, never generated.

    Common tokens ``0 .. vocab_size-1`` form the output vocabulary; each source token
    is instead, with probability ``rare_prob``, one of ``num_rare`` rare ids that the
    model sees only as "unknown" (a shared embedding), like out-of-vocabulary names.

    Chapter 9.
    """

    length: int = 8
    vocab_size: int = 10
    num_rare: int = 1000
    rare_prob: float = 0.3

    def __post_init__(self) -> None:
        check_min_fields(self, ("length", "vocab_size", "num_rare"))
        if not 0 <= self.rare_prob <= 1:
            raise ValueError(f"rare_prob must be in [0, 1], got {self.rare_prob}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> CopyBatch:
        """Draw a batch; the same generator state gives the same batch."""
        check_int(batch_size, "batch_size", minimum=1)
        shape = (batch_size, self.length)
        common = torch.randint(self.vocab_size, shape, generator=generator)
        rare = self.vocab_size + torch.randint(self.num_rare, shape, generator=generator)
        is_rare = torch.rand(shape, generator=generator) < self.rare_prob
        source = torch.where(is_rare, rare, common)
        return CopyBatch(source, source.flip(1))


class CopyNet(nn.Module):
    """A one-layer pointer-generator: generate a common token or copy a source position.

    .. math:: p(y_t) = g_t\\, P_{vocab}(y_t \\mid c_t) + (1 - g_t) \\sum_j z_{tj} [x_j = y_t],
       \\quad c_t = \\sum_j z_{tj} e_j

    ``z_t`` is the copy selection over source positions: ``softmax`` (soft copy), a
    straight-through Gumbel-Softmax one-hot (hard copy, training) or the argmax
    one-hot (hard copy, inference). Rare tokens share one "unknown" embedding, so
    only the copy path can output them.

    Reference: Gu et al. (2016); See, Liu & Manning (2017). Chapter 9.
    """

    def __init__(self, task: CopyTask, hidden: int = 32) -> None:
        super().__init__()
        self.task = task
        self.token = nn.Embedding(task.vocab_size + 1, hidden)  # last row: "unknown"
        self.source_pos = nn.Embedding(task.length, hidden)
        self.query = nn.Parameter(torch.randn(task.length, hidden) / math.sqrt(hidden))
        self.key = nn.Linear(hidden, hidden, bias=False)
        self.generate = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Linear(hidden, task.vocab_size)
        )
        self.gate = nn.Linear(2 * hidden, 1)

    def scores(self, source: Tensor) -> tuple[Tensor, Tensor]:
        """``(scores, enc)``: (B, L, L) copy scores (output step × source position), (B, L, h)."""
        ids = source.clamp(max=self.task.vocab_size)  # every rare id -> "unknown"
        enc = self.token(ids) + self.source_pos.weight
        scores = torch.einsum("th,bjh->btj", self.query, self.key(enc)) / math.sqrt(enc.shape[-1])
        return scores, enc

    def probs(
        self,
        source: Tensor,
        read: Read = "soft",
        tau: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """(B, L, V + num_rare) output distribution over the extended vocabulary."""
        if read not in READS:
            raise ValueError(f"read must be one of {READS}, got {read!r}")
        scores, enc = self.scores(source)
        z = select(scores, read, tau, generator)  # (B, L, L)
        features = torch.cat([z @ enc, self.query.expand(len(source), -1, -1)], -1)  # (B, L, 2h)
        gen = torch.sigmoid(self.gate(features))  # (B, L, 1)
        vocab = F.pad(torch.softmax(self.generate(features), -1), (0, self.task.num_rare))
        copy = torch.zeros_like(vocab).scatter_add_(-1, source.unsqueeze(1).expand_as(z), z)
        return gen * vocab + (1 - gen) * copy


def select(scores: Tensor, read: str, tau: float = 1.0, generator: torch.Generator | None = None) -> Tensor:
    """(..., L) copy selection: softmax, ST-Gumbel one-hot, argmax one-hot, sparsemax or 1.5-entmax."""
    if read == "soft":
        return torch.softmax(scores, dim=-1)
    if read in ("sparsemax", "entmax15"):
        return (sparsemax if read == "sparsemax" else entmax15)(scores)
    if read == "st_gumbel":
        return gumbel_softmax(scores, tau=tau, hard=True, generator=generator)
    return one_hot(scores.argmax(-1), scores.shape[-1])


def copy_objective(
    read: TrainedRead = "soft", tau: float = 1.0, generator: torch.Generator | None = None
) -> Callable[[CopyNet, CopyBatch, int], Tensor]:
    """Negative log-likelihood of the target with a soft or a hard (ST-Gumbel) copy selection.

    .. math:: L = -\\frac1L \\sum_t \\log\\big(p(y_t) + \\epsilon\\big),\\quad \\epsilon = 10^{-6}

    ``epsilon`` keeps the loss finite when a hard selection misses a rare target
    (its probability is then exactly zero). An objective for :func:`hardattn_utils.fit`.

    Args:
        read: ``"soft"`` (softmax copy selection), ``"st_gumbel"`` (hard, straight-through),
            ``"sparsemax"`` or ``"entmax15"`` (sparse, exact backpropagation; chapter 12).
        tau: Gumbel-Softmax temperature for ``"st_gumbel"``.
        generator: source of the Gumbel noise.

    Reference: Jang, Gu & Poole (2017) for ST-Gumbel. Chapter 9.
    """
    if read not in TRAINED:
        raise ValueError(f"read must be one of {TRAINED} for training, got {read!r}")

    def objective(model: CopyNet, batch: CopyBatch, step: int) -> Tensor:
        probs = model.probs(batch.source, read=read, tau=tau, generator=generator)
        return -(probs.gather(-1, batch.target.unsqueeze(-1)) + 1e-6).log().mean()

    return objective


@torch.no_grad()
def copy_accuracy(model: CopyNet, batch: CopyBatch, read: Read = "soft") -> dict[str, float]:
    """Token accuracy, exact-copy rate of rare tokens, and probability mass on rare targets.

    Returns:
        ``{"accuracy", "rare_copied", "rare_prob"}``: fraction of output tokens right,
        fraction of rare target tokens output exactly, mean probability of a rare target.
    """
    probs = model.probs(batch.source, read=read)
    right = probs.argmax(-1) == batch.target
    rare = batch.target >= model.task.vocab_size
    target_prob = probs.gather(-1, batch.target.unsqueeze(-1)).squeeze(-1)
    return {
        "accuracy": right.float().mean().item(),
        "rare_copied": right[rare].float().mean().item(),
        "rare_prob": target_prob[rare].mean().item(),
    }


def train_copy_seeds(
    task: CopyTask,
    read: TrainedRead,
    test: CopyBatch,
    *,
    num_steps: int,
    seeds: Sequence[int] = SEEDS,
    hidden: int = 32,
    batch_size: int = 64,
    lr: float = 1e-2,
    eval_every: int = 10,
    label: str | None = None,
    make: Callable[..., nn.Module] | None = None,
) -> tuple[dict[int, CopyNet], pd.DataFrame]:
    """Train one :class:`CopyNet` per seed with a soft or a hard (ST-Gumbel) copy.

    Seed ``s`` fixes the initial weights (``torch.manual_seed(s)``), the training
    batches (a generator seeded with ``100 + s``) and the Gumbel noise (``200 + s``).
    The soft copy is evaluated with soft reads, the hard copy with argmax reads, a
    sparse copy (``"sparsemax"``, ``"entmax15"``, chapter 12) with its own sparse reads.
    Gradients are clipped to norm 1.

    Args:
        task: the copy task.
        read: ``"soft"``, ``"st_gumbel"`` (see :func:`copy_objective`), ``"sparsemax"``
            or ``"entmax15"``.
        test: held-out batch for :func:`copy_accuracy` every ``eval_every`` steps.
        num_steps, batch_size, lr, eval_every, label: as in :func:`hardattn_utils.fit`.
        seeds: one model per seed (at least 5 for a claim).
        hidden: the model's width.
        make: ``make(task, hidden=hidden)`` builds the model; ``None`` builds a
            :class:`CopyNet` (a :class:`~.keyed_copy.KeyedCopyNet` for the keyed task).

    Returns:
        ``(nets, log)``: the trained model per seed and a tidy log with a ``seed``
        column. Chapter 9.
    """
    if read not in TRAINED:
        raise ValueError(f"read must be one of {TRAINED}, got {read!r}")
    deploy = "argmax" if read == "st_gumbel" else read
    nets: dict[int, CopyNet] = {}

    def run(seed: int) -> pd.DataFrame:
        torch.manual_seed(seed)
        net = nets[seed] = (make or CopyNet)(task, hidden=hidden)
        data = torch.Generator().manual_seed(100 + seed)
        objective = copy_objective(read, generator=torch.Generator().manual_seed(200 + seed))
        return fit(
            net,
            objective,
            lambda step: task.sample(batch_size, data),
            num_steps,
            lr=lr,
            clip_norm=1.0,
            evaluate=lambda m: copy_accuracy(m, test, deploy),
            eval_every=eval_every,
            label=label if label is not None else read,
        )

    return nets, over_seeds(run, seeds)
