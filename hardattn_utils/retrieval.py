"""Training the retrieval model of chapters 3–6: one seed, or several seeds at once.

The retrieval application (task in ``tasks.py``, model in ``models.py``, training
here) moves to ``apps/retrieval.py`` with the other applications.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor

from .estimators import Estimate
from .models import RetrievalNet
from .registry import resolve
from .seeds import SEEDS, SeedStack
from .tasks import RetrievalBatch, RetrievalTask
from .train import estimator_objective, fit

__all__ = ["train_retrieval", "train_retrieval_seeds"]


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
    return stack, _split_seeds(log, list(seeds))


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


def _split_seeds(log: pd.DataFrame, seeds: list[int]) -> pd.DataFrame:
    """Metrics named ``name[i]`` -> metric ``name`` with ``seed = seeds[i]``."""
    parts = log["metric"].str.extract(r"^(?P<metric>.+)\[(?P<copy>\d+)\]$")
    out = log.assign(metric=parts["metric"], seed=[seeds[int(i)] for i in parts["copy"]])
    return out.reset_index(drop=True)
