"""The one training loop of the book, with a progress bar and a tidy result.

Chapter 3 introduces it; every chapter that trains a model calls :func:`fit`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from .estimators import ESTIMATORS, Estimate
from .models import RetrievalNet
from .seeds import SEEDS, SeedStack
from .tasks import RetrievalBatch, RetrievalTask

__all__ = ["estimator_objective", "fit", "steps_to", "train_retrieval", "train_retrieval_seeds"]

#: ``(model, batch, step) -> scalar Tensor | Estimate | (scalar Tensor, metrics)``
Objective = Callable[[nn.Module, Any, int], Any]


def estimator_objective(estimator: str | Callable[..., Estimate], **hyper: Any) -> Objective:
    """Objective that trains a selection model (``scores``/``selection_loss``) with an estimator.

    Args:
        estimator: a name in ``ESTIMATORS`` or an estimator.
        **hyper: the estimator's keyword hyper-parameters; a callable value is
            called with the step (e.g. a temperature schedule).
    """
    est = ESTIMATORS[estimator] if isinstance(estimator, str) else estimator

    def objective(model: nn.Module, batch: Any, step: int) -> Estimate:
        kwargs = {k: (v(step) if callable(v) else v) for k, v in hyper.items()}
        return est(model.scores(batch), model.selection_loss(batch), **kwargs)

    return objective


def _split(result: Any) -> tuple[Tensor, dict[str, float]]:
    if isinstance(result, Estimate):
        return result.surrogate, {"loss": result.loss.mean().item()}
    if isinstance(result, tuple):
        surrogate, metrics = result
        return surrogate, {k: float(v) for k, v in metrics.items()}
    if isinstance(result, Tensor):
        return result, {"loss": result.item()}
    raise TypeError(
        f"objective must return a Tensor, an Estimate or (Tensor, dict); got {type(result).__name__}"
    )


def fit(
    model: nn.Module,
    objective: Objective,
    batches: Callable[[int], Any],
    num_steps: int,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 1e-2,
    evaluate: Callable[[nn.Module], Mapping[str, float]] | None = None,
    eval_every: int = 50,
    label: str = "",
    log_every: int = 10,
    clip_norm: float | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train ``model`` for ``num_steps`` steps and return a tidy log.

    Args:
        model: the module; put in train mode during steps and eval mode to evaluate.
        objective: ``(model, batch, step)`` -> a scalar loss, an ``Estimate`` or
            ``(scalar, metrics)``; its ``backward()`` gives the update direction.
        batches: ``step -> batch``.
        num_steps: number of updates.
        optimizer: defaults to Adam(lr).
        evaluate: ``model -> {metric: value}``, run every ``eval_every`` steps and at the end.
        label: written in the ``label`` column (use the estimator's name).
        log_every: training metrics are logged every this many steps.
        clip_norm: clip the gradient norm if given.
        progress: show a ``tqdm.auto`` progress bar.

    Returns:
        DataFrame with columns ``label, step, metric, value, seconds``.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    optimizer = optimizer or torch.optim.Adam(model.parameters(), lr=lr)
    rows: list[tuple[str, int, str, float, float]] = []
    start = time.perf_counter()

    def record(step: int, metrics: Mapping[str, float]) -> None:
        seconds = time.perf_counter() - start
        rows.extend((label, step, k, float(v), seconds) for k, v in metrics.items())

    def run_eval(step: int) -> None:
        if evaluate is not None:
            model.eval()
            record(step, evaluate(model))
            model.train()

    run_eval(0)
    model.train()
    for step in tqdm(range(1, num_steps + 1), desc=label or "training", disable=not progress, leave=False):
        surrogate, metrics = _split(objective(model, batches(step), step))
        optimizer.zero_grad(set_to_none=True)
        surrogate.backward()
        if clip_norm is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
        optimizer.step()
        if step % log_every == 0:
            record(step, {f"train_{k}": v for k, v in metrics.items()})
        if step % eval_every == 0 and step != num_steps:
            run_eval(step)
    run_eval(num_steps)
    model.eval()
    return pd.DataFrame(rows, columns=["label", "step", "metric", "value", "seconds"])


def steps_to(log: pd.DataFrame, level: float = 0.9, metric: str = "accuracy") -> int | None:
    """First logged step at which ``metric`` reaches ``level`` in a tidy log of one run.

    Args:
        log: a frame from :func:`fit` (columns ``step``, ``metric``, ``value``), for one
            run; filter by label/seed first when it holds several.
        level: the threshold.
        metric: which metric to test.

    Returns:
        The step, or ``None`` if the run never reached ``level``. Chapter 3.
    """
    rows = log[(log["metric"] == metric) & (log["value"] >= level)]
    return int(rows["step"].min()) if len(rows) else None


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
    est = ESTIMATORS[estimator] if isinstance(estimator, str) else estimator
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
