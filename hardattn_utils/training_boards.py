"""The training boards of chapter 14: a task trained with each estimator from every
seed, at a counted or declared cost in loss evaluations.

* :func:`retrieval_board`: the retrieval task of chapters 3–6 trained with each
  estimator from every seed: final accuracy, steps and loss evaluations to a
  threshold, and wall time.
* :func:`training_board`: the same columns for any task whose training function
  returns a tidy log with a ``seed`` column (the VAE, pointer sorting, sparse
  readers, routers).
* :func:`summarise`: ``mean ± se (min–max)`` over seeds, one row per estimator.

The gradient board and the cost counter live in :mod:`hardattn_utils.leaderboard`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch

from ._checks import check_int, check_real
from .leaderboard import is_stateful, loss_evaluations, per_input_problem, registered_labels
from .seeds import SEEDS, mean_se

__all__ = ["retrieval_board", "summarise", "training_board"]


def retrieval_board(
    task: Any,
    test_batch: Any,
    *,
    train_seeds: Callable[..., tuple[Any, pd.DataFrame]],
    train_one: Callable[..., tuple[Any, pd.DataFrame]],
    num_steps: int,
    level: float = 0.9,
    seeds: Sequence[int] = SEEDS,
    eval_every: int = 10,
    estimators: Iterable[str] | None = None,
) -> pd.DataFrame:
    """The retrieval task trained with every estimator from every seed.

    Stateless estimators train their seed copies together
    (:func:`~hardattn_utils.apps.retrieval.train_retrieval_seeds`, batches from
    generator 100); a stateful one (:func:`is_stateful`) trains one model per seed
    (:func:`~hardattn_utils.apps.retrieval.train_retrieval`, batches from 100 + seed)
    so that no state is shared between seeds and a learned part trains with the model.

    The core does not import the applications, so the two training functions come
    as arguments: ``train_seeds=ha.train_retrieval_seeds, train_one=ha.train_retrieval``.
    Loss evaluations are counted on :func:`per_input_problem` (the count of these
    estimators does not depend on the loss).

    Args:
        task: a ``RetrievalTask``. test_batch: its held-out batch.
        train_seeds: trains the seed copies together (stateless estimators).
        train_one: trains one seed (stateful estimators).
        num_steps: updates per run. level: the accuracy threshold.
        seeds: the seeds. eval_every: evaluation interval (steps to ``level`` are
            multiples of it). estimators: labels (default: all of ``ESTIMATORS``).

    Returns:
        One row per (estimator, seed): ``evaluations`` (per input and step),
        ``final accuracy`` (argmax read), ``steps to level`` (NaN if never),
        ``evaluations to level`` (steps × evaluations) and ``seconds`` (wall time
        per seed). Chapter 14.
    """
    num_steps = check_int(num_steps, "num_steps", minimum=1)
    level = check_real(level, "level")
    frames = []
    for label in registered_labels(estimators):
        start = time.perf_counter()
        if is_stateful(label):
            runs = [train_one(task, label, test_batch, num_steps=num_steps, seed=s,
                                    eval_every=eval_every, label=label)[1] for s in seeds]  # fmt: skip
            log = pd.concat(runs, ignore_index=True)
        else:
            log = train_seeds(task, label, test_batch, num_steps=num_steps, seeds=seeds,
                                        eval_every=eval_every, label=label)[1]  # fmt: skip
        seconds = (time.perf_counter() - start) / len(seeds)
        frames.append(_runs(log, label, level, seconds))
    board = pd.concat(frames, ignore_index=True)
    probe = per_input_problem(8, 8, generator=torch.Generator().manual_seed(0))
    costs = {label: loss_evaluations(label, *probe) for label in board["estimator"].unique()}
    board.insert(2, "evaluations", board["estimator"].map(costs))
    board["evaluations to level"] = board["steps to level"] * board["evaluations"]
    return board


def _runs(
    log: pd.DataFrame,
    label: str,
    level: float,
    seconds: float,
    metric: str = "accuracy",
    higher: bool = True,
    name: str = "final accuracy",
) -> pd.DataFrame:
    """One row per seed: the final value of ``metric`` and the first step at ``level``."""
    values = log[log["metric"] == metric]
    rows = []
    for seed, run in values.groupby("seed"):
        reached = run.loc[run["value"] >= level if higher else run["value"] <= level, "step"]
        rows.append(
            {"estimator": label, "seed": int(seed),
             name: float(run.loc[run["step"].idxmax(), "value"]),
             "steps to level": float(reached.min()) if len(reached) else float("nan"),
             "seconds": seconds}
        )  # fmt: skip
    return pd.DataFrame(rows)


def training_board(
    train: Callable[[str], pd.DataFrame],
    evaluations: Mapping[str, float],
    *,
    metric: str,
    level: float,
    num_seeds: int,
    higher: bool = True,
) -> pd.DataFrame:
    """Any task trained with each label from every seed, on the retrieval board's columns.

    .. math:: \text{evaluations to level} = \text{steps to level} \times \text{evaluations}

    Cost is declared here, not counted: the caller states what one step spends per
    input (e.g. decoder evaluations per image, when the batch shrinks as samples grow).

    Args:
        train: ``label -> log``, a tidy :func:`hardattn_utils.fit` log of all seeds
            (columns ``seed``, ``step``, ``metric``, ``value``).
        evaluations: label -> cost per step (the labels, in the board's order).
        metric: the logged quality. level: its threshold.
        num_seeds: seeds per label (for the wall time per seed).
        higher: True when larger values are better (accuracy), False for a loss.

    Returns:
        One row per (label, seed): ``evaluations``, ``final <metric>``, ``steps to
        level`` (NaN if never), ``evaluations to level`` and ``seconds``. Chapter 14.
    """
    level = check_real(level, "level")
    num_seeds = check_int(num_seeds, "num_seeds", minimum=1)
    if not evaluations:
        raise ValueError("evaluations must name at least one label")
    frames = []
    for label, cost in evaluations.items():
        start = time.perf_counter()
        log = train(label)
        seconds = (time.perf_counter() - start) / num_seeds
        frame = _runs(log, label, level, seconds, metric, higher, f"final {metric}")
        frames.append(frame.assign(evaluations=float(cost)))
    board = pd.concat(frames, ignore_index=True)
    board["evaluations to level"] = board["steps to level"] * board["evaluations"]
    return board


def summarise(frame: pd.DataFrame, columns: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """``mean ± se (min–max)`` over seeds of each column, one row per estimator.

    Args:
        frame: a board (columns ``estimator``, ``seed`` and ``columns``).
        columns: the columns to summarise. digits: decimals shown.

    Returns:
        Index ``estimator`` in the board's order; NaNs (a run that never reached the
        level) are shown as the count of seeds that did; a value equal at every seed as itself. Chapter 14.
    """

    def cell(values: pd.Series) -> str:
        done = values.dropna()
        if len(done) == len(values) and done.nunique() == 1:
            return f"{done.iloc[0]:g}"  # the same at every seed (a count)
        if len(done) < len(values):
            return f"{len(done)}/{len(values)} seeds" + (
                f": {mean_se(done, digits)}" if len(done) > 1 else ""
            )
        return mean_se(values, digits)

    groups = frame.groupby("estimator", sort=False)
    return pd.DataFrame({c: groups[c].agg(cell) for c in columns})
