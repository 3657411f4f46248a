"""The one training loop of the book, with a progress bar and a tidy result.

Chapter 3 introduces it; every chapter that trains a model calls :func:`fit`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ._checks import check_int, check_real
from .estimators import Estimate
from .registry import resolve

__all__ = ["EstimatorObjective", "Objective", "estimator_objective", "fit", "steps_to", "progress_bar"]

#: ``(model, batch, step) -> scalar Tensor | Estimate | (scalar Tensor, metrics)``
Objective = Callable[[nn.Module, Any, int], Any]


class EstimatorObjective:
    """``(model, batch, step) -> Estimate``: train a selection model with one estimator.

    The model provides ``scores(batch)`` (logits) and ``selection_loss(batch)`` (the
    loss ``f`` of a sample). A hyper-parameter given as a callable is called with the
    step (e.g. a temperature schedule). :meth:`parameters` lists the estimator's own
    parameters (a :class:`hardattn_utils.LearnedBaseline`'s), which :func:`fit` adds
    to the optimiser it builds.

    Attributes:
        label: the estimator's label. estimator: the estimator (fresh for a label).
    """

    def __init__(self, estimator: str | Callable[..., Estimate], **hyper: Any) -> None:
        self.label, self.estimator = resolve(estimator)
        self.hyper = hyper

    def __call__(self, model: nn.Module, batch: Any, step: int) -> Estimate:
        kwargs = {k: (v(step) if callable(v) else v) for k, v in self.hyper.items()}
        return self.estimator(model.scores(batch), model.selection_loss(batch), **kwargs)

    def parameters(self) -> list[nn.Parameter]:
        """The estimator's trainable parameters (none unless it is a module)."""
        return list(self.estimator.parameters()) if isinstance(self.estimator, nn.Module) else []


def estimator_objective(estimator: str | Callable[..., Estimate], **hyper: Any) -> EstimatorObjective:
    """Objective that trains a selection model (``scores``/``selection_loss``) with an estimator.

    Args:
        estimator: a label in ``ESTIMATORS`` (a fresh estimator) or an estimator.
        **hyper: the estimator's keyword hyper-parameters; a callable value is
            called with the step (e.g. a temperature schedule).

    Returns:
        An :class:`EstimatorObjective`; :func:`fit` trains its parameters too. Chapter 3.
    """
    return EstimatorObjective(estimator, **hyper)


def trainable(model: nn.Module, objective: Objective) -> list[nn.Parameter]:
    """The model's parameters, then the objective's own ones not already among them."""
    params = list(model.parameters())
    seen = {id(p) for p in params}
    extra = getattr(objective, "parameters", None)
    extra = list(extra()) if callable(extra) else []
    return params + [p for p in extra if id(p) not in seen]


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
    progress: bool | None = None,
) -> pd.DataFrame:
    """Train ``model`` for ``num_steps`` steps and return a tidy log.

    Args:
        model: the module; put in train mode during steps and eval mode to evaluate.
        objective: ``(model, batch, step)`` -> a scalar loss, an ``Estimate`` or
            ``(scalar, metrics)``; its ``backward()`` gives the update direction.
        batches: ``step -> batch``.
        num_steps: number of updates.
        optimizer: defaults to Adam(lr) over the model's parameters and the
            objective's own (see :func:`trainable`).
        evaluate: ``model -> {metric: value}``, run every ``eval_every`` steps and at the end.
        label: written in the ``label`` column (use the estimator's name).
        log_every: training metrics are logged every this many steps.
        clip_norm: clip the gradient norm if given.
        progress: show a ``tqdm.auto`` progress bar; ``None`` follows
            :func:`progress_bar` (on, except where ``HARDATTN_PROGRESS=0``).

    Returns:
        DataFrame with columns ``label, step, metric, value, seconds``.
    """
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    eval_every = check_int(eval_every, "eval_every", minimum=1)
    log_every = check_int(log_every, "log_every", minimum=1)
    optimizer = optimizer or torch.optim.Adam(
        trainable(model, objective), lr=check_real(lr, "lr", minimum=0.0)
    )
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
    for step in progress_bar(range(1, num_steps + 1), label or "training", show=progress):
        surrogate, metrics = _split(objective(model, batches(step), step))
        _update(model, optimizer, surrogate, clip_norm)
        if step % log_every == 0:
            record(step, {f"train_{k}": v for k, v in metrics.items()})
        if step % eval_every == 0 and step != num_steps:
            run_eval(step)
    run_eval(num_steps)
    model.eval()
    return pd.DataFrame(rows, columns=["label", "step", "metric", "value", "seconds"])


def _update(
    model: nn.Module, optimizer: torch.optim.Optimizer, surrogate: Tensor, clip_norm: float | None
) -> None:
    """One optimiser step along ``surrogate``'s gradient, clipped to ``clip_norm`` if given."""
    optimizer.zero_grad(set_to_none=True)
    surrogate.backward()
    if clip_norm is not None:
        nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    optimizer.step()


def progress_bar(steps: Iterable[int], desc: str, *, show: bool | None = None) -> Iterable[int]:
    """A ``tqdm.auto`` bar over ``steps`` for interactive runs, nothing in stored outputs.

    ``make notebooks`` and ``make test`` set ``HARDATTN_PROGRESS=0``, so the executed
    notebooks committed to the book carry no frozen progress bar; in JupyterLab or
    Colab the bar shows while a loop runs and disappears when it ends.

    Args:
        steps: the loop's iterable.
        desc: the bar's label.
        show: force the bar on or off; ``None`` reads ``HARDATTN_PROGRESS``.
    """
    if show is None:
        show = os.environ.get("HARDATTN_PROGRESS", "1") != "0"
    return tqdm(steps, desc=desc, disable=not show, leave=False) if show else steps


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
