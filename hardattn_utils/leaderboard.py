"""The estimator leaderboard of chapter 14: every registered estimator on the book's
small problems, at an equal cost in loss evaluations, over seeds.

The board reads :data:`~hardattn_utils.registry.ESTIMATORS` when it runs, so an
estimator registered later appears without a change here. Cost is *counted*, not
declared: :func:`loss_evaluations` wraps the loss and counts how many times one
estimate evaluates it per input. Here:

* :func:`gradient_board`: bias² and variance of one estimate against the exact
  gradient (enumeration), and the mean squared error of an estimate that spends
  ``budget`` loss evaluations (averaging ``budget / evaluations`` draws).
* the training boards (:mod:`hardattn_utils.training_boards`): the retrieval task
  and any other task trained with each estimator from every seed.

:func:`per_input_problem` gives a batch of independent selection problems, one per
input, for the gradient board.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd
import torch
from torch import Tensor

from ._checks import check_int, check_logits
from .estimators import LossFn
from .exact import exact_gradient, gradient_samples
from .registry import ESTIMATORS
from .seeds import SEEDS

__all__ = [
    "gradient_board",
    "is_stateful",
    "loss_evaluations",
    "per_input_problem",
    "registered_labels",
]


def is_stateful(label: str) -> bool:
    """True when ``ESTIMATORS[label]`` is a fresh object on every lookup (it has state)."""
    return ESTIMATORS[label] is not ESTIMATORS[label]


def loss_evaluations(
    label: str, logits: Tensor, f: LossFn, *, generator: torch.Generator | None = None
) -> float:
    """Loss evaluations that one estimate spends per input, counted.

    .. math:: \\text{evaluations} = \\#\\,\\text{losses of one estimate} / \\#\\,\\text{inputs}

    Args:
        label: a name in ``ESTIMATORS``.
        logits: (B..., m); B... inputs.
        f: the loss, ``z`` (..., B..., m) -> (..., B...).
        generator: source of randomness.

    Returns:
        The count per input (e.g. 1 for REINFORCE, 4 for RLOO). Chapter 14.
    """
    logits = check_logits(logits)
    count = [0]

    def counted(z: Tensor) -> Tensor:
        out = f(z)
        count[0] += out.numel()
        return out

    leaf = logits.detach().clone().requires_grad_(True)
    ESTIMATORS[label](leaf, counted, generator=generator).surrogate.backward()
    return count[0] / (logits.numel() / logits.shape[-1])


def per_input_problem(
    batch: int, m: int, *, generator: torch.Generator | None = None
) -> tuple[Tensor, LossFn]:
    """``batch`` independent selection problems: logits and a quadratic loss per input.

    .. math:: f_b(z) = \\big(z^\\top v_b - t_b\\big)^2

    Args:
        batch: B inputs. m: categories per input.
        generator: draws the logits (B, m), values v (B, m) and targets t (B,).

    Returns:
        ``(logits, f)`` with ``f``: z (..., B, m) -> (..., B). Chapter 14.
    """
    batch, m = check_int(batch, "batch", minimum=1), check_int(m, "m", minimum=2)
    logits = torch.randn(batch, m, generator=generator)  # (B, m)
    values = torch.randn(batch, m, generator=generator)  # (B, m)
    targets = torch.randn(batch, generator=generator)  # (B,)

    def f(z: Tensor) -> Tensor:
        return ((z * values).sum(-1) - targets) ** 2  # (..., B)

    return logits, f


def registered_labels(estimators: Iterable[str] | None) -> list[str]:
    """The labels to run: ``estimators`` checked against ``ESTIMATORS``, or all of them."""
    labels = list(ESTIMATORS) if estimators is None else list(estimators)
    unknown = [label for label in labels if label not in ESTIMATORS]
    if unknown:
        raise ValueError(f"estimators {unknown} are not in ESTIMATORS: {sorted(ESTIMATORS)}")
    return labels


def gradient_board(
    logits: Tensor,
    f: LossFn,
    *,
    num_draws: int,
    seeds: Sequence[int] = SEEDS,
    budget: int = 4,
    estimators: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Bias², variance and equal-cost error of every estimator, one row per seed.

    All quantities are relative to ``|g|²``, the squared norm of the exact gradient g.

    .. math:: \\mathrm{MSE}_{\\text{budget}} = \\|\\bar{\\hat g} - g\\|^2
       + \\operatorname{tr}\\operatorname{Var}\\hat g \\cdot \\frac{\\text{evaluations}}{\\text{budget}}

    Args:
        logits: (m,) or (B, m), one problem or one per input.
        f: the loss, ``z`` (..., [B,] m) -> (..., [B]).
        num_draws: N estimates per seed (a generator seeded with the seed).
        seeds: at least 2 (5 for a claim).
        budget: loss evaluations per input that the equal-cost column allows.
        estimators: labels (default: all of ``ESTIMATORS``, read now).

    Returns:
        Columns ``estimator``, ``seed``, ``evaluations``, ``bias²`` (of the mean of N
        draws), ``MC floor`` (its expected value for an unbiased estimator,
        ``tr Var / N``), ``variance`` (per estimate), ``MSE at budget``. Chapter 14.
    """
    logits = check_logits(logits)
    num_draws = check_int(num_draws, "num_draws", minimum=2)
    budget = check_int(budget, "budget", minimum=1)
    exact = exact_gradient(logits, f)
    scale = float(exact.pow(2).sum())
    rows = []
    for label in registered_labels(estimators):
        evaluations = loss_evaluations(label, logits, f, generator=torch.Generator().manual_seed(0))
        for seed in seeds:
            draws = gradient_samples(label, logits, f, num_draws, torch.Generator().manual_seed(seed))
            bias2 = float((draws.mean(0) - exact).pow(2).sum()) / scale
            variance = float(draws.var(0).sum()) / scale
            rows.append(
                {"estimator": label, "seed": seed, "evaluations": evaluations, "bias²": bias2,
                 "MC floor": variance / num_draws, "variance": variance,
                 "MSE at budget": bias2 + variance * evaluations / budget}
            )  # fmt: skip
    return pd.DataFrame(rows)
