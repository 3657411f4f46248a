"""The retrieval task of chapters 3–6: a noisy query, keys, and a label to read out.

``RetrievalTask`` draws seeded batches; ``RetrievalNet`` scores the keys and reads out
the selected value; ``train_retrieval`` and ``train_retrieval_seeds`` train it with any
estimator (one seed, or five at once). Chapter 3 introduces the task.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_min_fields
from ..estimators import Estimate, LossFn
from ..registry import resolve
from ..seeds import SEEDS, SeedStack, split_seeds
from ..train import estimator_objective, fit

__all__ = ["RetrievalBatch", "RetrievalNet", "RetrievalTask", "train_retrieval", "train_retrieval_seeds"]


@dataclass(frozen=True)
class RetrievalBatch:
    """One batch of the retrieval task.

    Attributes:
        keys: (B, m, d) one key per position.
        values: (B, m, C) one-hot class label stored at each position.
        query: (B, d) noisy copy of the key at ``index``.
        index: (B,) the position whose key the query copies.
        target: (B,) the class label stored there.
    """

    keys: Tensor
    values: Tensor
    query: Tensor
    index: Tensor
    target: Tensor


@dataclass(frozen=True)
class RetrievalTask:
    """Find the key a noisy query copies among ``num_positions`` and report its label.

    The label at every position is uniform over ``num_classes``, so a model that
    does not attend to the right position is right only by chance (about 1/C of
    the time plus the chance that a distractor carries the same label).

    Chapter 3 trains stochastic hard attention on it.
    """

    num_positions: int = 8
    key_dim: int = 16
    num_classes: int = 10
    noise: float = 0.5

    def __post_init__(self) -> None:
        check_min_fields(self, ("num_positions", "key_dim", "num_classes"))
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> RetrievalBatch:
        """Draw a batch; the same generator state gives the same batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        m, d, c = self.num_positions, self.key_dim, self.num_classes
        keys = torch.randn(batch_size, m, d, generator=generator)
        labels = torch.randint(c, (batch_size, m), generator=generator)
        index = torch.randint(m, (batch_size,), generator=generator)
        rows = torch.arange(batch_size)
        query = keys[rows, index] + self.noise * torch.randn(batch_size, d, generator=generator)
        values = torch.nn.functional.one_hot(labels, c).float()
        return RetrievalBatch(keys, values, query, index, labels[rows, index])


class RetrievalNet(nn.Module):
    """Bilinear attention over keys, then a linear read-out of the selected value.

    .. math:: s_i = \\frac{(W q)^\\top k_i}{\\sqrt d},\\quad c = \\sum_i z_i v_i,
       \\quad \\hat y = \\mathrm{softmax}(A c + a)

    ``z`` is a one-hot (hard attention), a relaxed sample, or ``softmax(s)`` (soft
    attention). Chapter 3.
    """

    def __init__(self, key_dim: int, num_classes: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(key_dim, key_dim, bias=False)
        nn.init.normal_(self.query_proj.weight, std=0.01)
        self.readout = nn.Linear(num_classes, num_classes)
        self.scale = 1.0 / math.sqrt(key_dim)

    def scores(self, batch: RetrievalBatch) -> Tensor:
        """(B, m) attention scores."""
        projected = self.query_proj(batch.query)  # (B, d)
        return torch.einsum("bd,bmd->bm", projected, batch.keys) * self.scale

    def selection_loss(self, batch: RetrievalBatch) -> LossFn:
        """Cross-entropy of the read-out of selection ``z`` (..., B, m) -> (..., B)."""

        def loss(z: Tensor) -> Tensor:
            context = torch.einsum("...bm,bmc->...bc", z, batch.values)
            logits = self.readout(context)
            target = batch.target.expand(logits.shape[:-1])
            flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
            return flat.reshape(target.shape)

        return loss

    def soft_loss(self, batch: RetrievalBatch) -> Tensor:
        """(B,) loss of soft attention, ``z = softmax(scores)``: trained by backpropagation."""
        return self.selection_loss(batch)(torch.softmax(self.scores(batch), dim=-1))

    @torch.no_grad()
    def accuracy(self, batch: RetrievalBatch, mode: str = "argmax") -> dict[str, float]:
        """Task accuracy and retrieval accuracy with ``mode`` = "argmax" or "soft"."""
        scores = self.scores(batch)
        if mode == "argmax":
            z = F.one_hot(scores.argmax(-1), scores.shape[-1]).float()
        elif mode == "soft":
            z = torch.softmax(scores, dim=-1)
        else:
            raise ValueError(f"mode must be 'argmax' or 'soft', got {mode!r}")
        logits = self.readout(torch.einsum("bm,bmc->bc", z, batch.values))
        return {
            "accuracy": (logits.argmax(-1) == batch.target).float().mean().item(),
            "retrieval": (scores.argmax(-1) == batch.index).float().mean().item(),
        }


def train_retrieval(
    task: RetrievalTask,
    estimator: str | Callable[..., Estimate],
    test_batch: RetrievalBatch,
    *,
    num_steps: int,
    seed: int = 0,
    batch_size: int = 64,
    eval_every: int = 10,
    label: str | None = None,
    **hyper: Any,
) -> tuple[RetrievalNet, pd.DataFrame]:
    """Train a fresh :class:`RetrievalNet` on ``task`` with one estimator, reproducibly.

    ``seed`` fixes the initial weights (``torch.manual_seed(seed)``) and the stream
    of training batches (a generator seeded with ``100 + seed``), so runs of
    different estimators with the same seed see the same data.

    Args:
        task: the retrieval task.
        estimator: a name in ``ESTIMATORS`` or an estimator.
        test_batch: held-out batch scored with the argmax read every ``eval_every`` steps.
        num_steps: updates.
        seed: see above.
        batch_size: training batch size.
        eval_every: evaluation interval.
        label: the ``label`` column (default: the estimator's name).
        **hyper: the estimator's hyper-parameters (callables are called with the step).

    Returns:
        ``(model, log)``, the log with an extra ``seed`` column. Chapters 5 and 6.
    """
    torch.manual_seed(seed)
    model = RetrievalNet(task.key_dim, task.num_classes)
    data = torch.Generator().manual_seed(100 + seed)
    name = label if label is not None else (estimator if isinstance(estimator, str) else "estimator")
    log = fit(
        model,
        estimator_objective(estimator, **hyper),
        lambda step: task.sample(batch_size, generator=data),
        num_steps,
        evaluate=lambda m: m.accuracy(test_batch),
        eval_every=eval_every,
        label=name,
    )
    return model, log.assign(seed=seed)


def train_retrieval_seeds(
    task: RetrievalTask,
    estimator: str | Callable[..., Estimate],
    test_batch: RetrievalBatch,
    *,
    num_steps: int,
    seeds: Sequence[int] = SEEDS,
    batch_size: int = 64,
    eval_every: int = 10,
    label: str | None = None,
    **hyper: Any,
) -> tuple[SeedStack, pd.DataFrame]:
    """Train one :class:`RetrievalNet` per seed, all in one vectorised run.

    Copy ``s`` starts from the weights ``torch.manual_seed(seeds[s])`` gives, and
    draws its own samples from the estimator; all copies see the same stream of
    training batches (a generator seeded with 100). The estimator sees logits of
    shape (S, B, m), one row of copies per seed, so every copy gets exactly the
    gradient it would get alone (the surrogate is scaled by S to undo the mean).

    Args:
        task, estimator, test_batch, num_steps, batch_size, eval_every, label,
        **hyper: as in :func:`train_retrieval`.
        seeds: one model per seed (at least 5 for a claim).

    Returns:
        ``(stack, log)``: the :class:`SeedStack` and a tidy log with a ``seed``
        column (metrics ``accuracy``, ``retrieval``, ``train_loss``). Chapters 3–6.
    """
    stack = SeedStack(lambda: RetrievalNet(task.key_dim, task.num_classes), seeds)
    data = torch.Generator().manual_seed(100)
    _, est = resolve(estimator)
    name = label if label is not None else (estimator if isinstance(estimator, str) else "estimator")

    def objective(model: SeedStack, batch: RetrievalBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        kwargs = {k: (v(step) if callable(v) else v) for k, v in hyper.items()}
        logits = model.apply(lambda net, b: net.scores(b), batch)  # (S, B, m)
        estimate = est(logits, _stacked_loss(model, batch), **kwargs)
        per_seed = estimate.loss.reshape(-1, *logits.shape[:2]).mean(dim=(0, 2))  # (S,)
        return estimate.surrogate * len(model), {f"loss[{i}]": v for i, v in enumerate(per_seed.tolist())}

    log = fit(
        stack,
        objective,
        lambda step: task.sample(batch_size, generator=data),
        num_steps,
        evaluate=lambda m: _stacked_accuracy(m, test_batch),
        eval_every=eval_every,
        label=name,
    )
    return stack, split_seeds(log, list(seeds))


def _stacked_loss(stack: SeedStack, batch: RetrievalBatch) -> Callable[[Tensor], Tensor]:
    """``z`` (..., S, B, m) -> loss (..., S, B): each seed's read-out on its own slice."""

    def loss(z: Tensor) -> Tensor:
        out = stack.apply(lambda net, b, zs: net.selection_loss(b)(zs), batch, z, in_dims=(None, -3))
        return out.movedim(0, -2)  # vmap puts the seed axis first

    return loss


@torch.no_grad()
def _stacked_accuracy(stack: SeedStack, batch: RetrievalBatch) -> dict[str, float]:
    scores = stack.apply(lambda net, b: net.scores(b), batch)  # (S, B, m)
    z = torch.nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).to(scores.dtype)
    context = torch.einsum("sbm,bmc->sbc", z, batch.values)
    logits = stack.apply(lambda net, c: net.readout(c), context, in_dims=(0,))
    accuracy = (logits.argmax(-1) == batch.target).float().mean(-1)
    retrieval = (scores.argmax(-1) == batch.index).float().mean(-1)
    out = {f"accuracy[{i}]": v for i, v in enumerate(accuracy.tolist())}
    return out | {f"retrieval[{i}]": v for i, v in enumerate(retrieval.tolist())}
