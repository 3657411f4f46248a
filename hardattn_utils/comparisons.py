"""Estimator comparisons over seeds and at an equal cost in loss evaluations.

Chapters 5 and 6 compare gradient estimators that spend different numbers of loss
evaluations per estimate: RLOO with four samples evaluates ``f`` four times,
Gumbel-Softmax and the straight-through estimators once. A fair comparison gives
every estimator the same budget; for a single-evaluation estimator that means
averaging ``budget`` independent draws, which divides its variance by ``budget``
(:func:`equal_cost_variance`). The Monte Carlo measurements are repeated over
seeds (:func:`seeded_gradient_stats`) so that each number comes with its spread
(:func:`bias_variance`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from .estimators import Estimate, LossFn
from .exact import gradient_samples, gradient_stats
from .seeds import SEEDS, over_seeds

__all__ = [
    "bias_variance",
    "equal_cost_variance",
    "pooled_stats",
    "seeded_gradient_stats",
    "seeded_variance_decomposition",
    "variance_decomposition",
]


def seeded_gradient_stats(
    estimator: str | Callable[..., Estimate],
    logits: Tensor,
    f: LossFn,
    draws_per_seed: int,
    seeds: Iterable[int] = SEEDS,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`~hardattn_utils.exact.gradient_stats` once per seed.

    Args:
        estimator: a name in ``ESTIMATORS`` or an estimator.
        logits: (K,) the fixed problem's logits.
        f: the loss, ``z`` (..., K) -> (...).
        draws_per_seed: N draws for each seed (a generator seeded with the seed).
        seeds: the seeds (at least 5 for a claim).
        **kwargs: passed on (``batched=``).

    Returns:
        The stats frames stacked, one row per (seed, coordinate), with a ``seed``
        column. Chapters 5 and 6.
    """

    def run(seed: int) -> pd.DataFrame:
        generator = torch.Generator().manual_seed(seed)
        return gradient_stats(estimator, logits, f, draws_per_seed, generator, **kwargs)

    return over_seeds(run, seeds)


def pooled_stats(frame: pd.DataFrame) -> pd.DataFrame:
    """All seeds' draws pooled, per coordinate.

    Args:
        frame: from :func:`seeded_gradient_stats` (equal draws per seed).

    Returns:
        Index ``coordinate``; columns ``exact``, ``mean`` (the mean of every
        draw), ``se`` (its standard error, √Σ se_s² / S), ``bias`` and ``z``.
    """
    groups = frame.groupby("coordinate")
    count = groups.size()
    out = pd.DataFrame(
        {
            "exact": groups["exact"].first(),
            "mean": groups["mean"].mean(),
            "se": groups["se"].agg(lambda se: float(np.sqrt((se**2).sum()))) / count,
        }
    )
    out["bias"] = out["mean"] - out["exact"]
    out["z"] = out["bias"] / out["se"].where(out["se"] > 0)
    return out


def equal_cost_variance(variance: float, evaluations: int, budget: int) -> float:
    """The variance of the mean of ``budget / evaluations`` i.i.d. estimates.

    An estimator that spends ``evaluations`` loss evaluations per estimate can
    average ``budget / evaluations`` independent estimates within ``budget``
    evaluations; the variance of that mean is the per-estimate variance divided by
    their number. Chapters 5 and 6.

    Raises:
        ValueError: if ``budget`` is not a positive multiple of ``evaluations``.
    """
    if evaluations < 1 or budget < evaluations or budget % evaluations:
        raise ValueError(f"budget {budget} must be a multiple of evaluations {evaluations}")
    return variance * evaluations / budget


def bias_variance(frame: pd.DataFrame, evaluations: int = 1, budget: int | None = None) -> pd.Series:
    """One estimator's bias (pooled draws) and total variance (spread over seeds).

    Args:
        frame: from :func:`seeded_gradient_stats`.
        evaluations: loss evaluations per estimate.
        budget: if given, also the variance at this budget (:func:`equal_cost_variance`).

    Returns:
        ``|bias|``, ``se of |bias|``, ``max |z|``, ``cosine`` and ``relative bias``
        of the pooled mean against the exact gradient; ``variance`` (total per
        estimate, mean over seeds), ``variance se``, ``variance min/max``; with a
        budget, ``variance at budget`` and its ``se``. Chapters 5 and 6.
    """
    pooled = pooled_stats(frame)
    mean, exact = pooled["mean"].to_numpy(), pooled["exact"].to_numpy()
    total = frame.groupby("seed")["variance"].sum()
    out = {
        "|bias|": float(np.linalg.norm(pooled["bias"])),
        "se of |bias|": float(np.linalg.norm(pooled["se"])),
        "max |z|": float(pooled["z"].abs().max()),
        "cosine": float(mean @ exact / np.linalg.norm(mean) / np.linalg.norm(exact)),
        "relative bias": float(np.linalg.norm(mean - exact) / np.linalg.norm(exact)),
        "variance": float(total.mean()),
        "variance se": float(total.std() / np.sqrt(len(total))),
        "variance min": float(total.min()),
        "variance max": float(total.max()),
    }
    if budget is not None:
        scale = equal_cost_variance(1.0, evaluations, budget)
        out["variance at budget"] = out["variance"] * scale
        out["variance at budget se"] = out["variance se"] * scale
    return pd.Series(out)


def variance_decomposition(draws: Tensor) -> dict[str, float]:
    """Total variance over a batch of inputs, split by the law of total variance.

    An input ``x`` is drawn uniformly from the B rows and a gradient estimate ĝ for
    its logits from the estimator; the total variance (summed over coordinates)
    splits into the mean variance *within* an example and the variance *between*
    the examples' mean gradients (population moments, so the identity is exact):

    .. math:: \\operatorname{Var}(\\hat g) = \\mathbb E_x[\\operatorname{Var}(\\hat g\\mid x)]
       + \\operatorname{Var}_x(\\mathbb E[\\hat g\\mid x])

    Args:
        draws: (N, B, m) N estimates for each of B inputs, e.g. from
            :func:`~hardattn_utils.exact.gradient_samples` on (B, m) logits.

    Returns:
        ``total``, ``within``, ``between`` (floats). Chapter 4.
    """
    if not isinstance(draws, Tensor) or draws.dim() != 3 or draws.shape[0] < 2:
        raise ValueError(f"draws must be a (N >= 2, B, m) tensor, got {getattr(draws, 'shape', draws)}")
    draws = draws.double()
    per_example = draws.mean(0)  # E[ĝ | x], (B, m)
    within = draws.var(0, unbiased=False).sum(-1).mean()  # E_x Var(ĝ | x)
    between = per_example.var(0, unbiased=False).sum()  # Var_x E[ĝ | x]
    total = draws.flatten(0, 1).var(0, unbiased=False).sum()  # pooled over (N, B)
    return {"total": total.item(), "within": within.item(), "between": between.item()}


def seeded_variance_decomposition(
    estimator: str | Callable[..., Estimate],
    logits: Tensor,
    f: LossFn,
    draws_per_seed: int,
    seeds: Iterable[int] = SEEDS,
    **kwargs: Any,
) -> pd.DataFrame:
    """:func:`variance_decomposition` of ``draws_per_seed`` estimates, once per seed.

    Args:
        estimator: a name in ``ESTIMATORS`` or an estimator.
        logits: (B, m) one row of logits per input.
        f: the loss, ``z`` (..., B, m) -> (..., B): each row its own loss.
        draws_per_seed: N (a generator seeded with the seed).
        seeds: the seeds (at least 5 for a claim).
        **kwargs: passed to :func:`~hardattn_utils.exact.gradient_samples` (``batched=``).

    Returns:
        One row per seed: ``seed``, ``total``, ``within``, ``between``, of the
        per-example estimates (the estimators' surrogates average over the B rows,
        so the draws are scaled back by B). Chapter 4.
    """

    def run(seed: int) -> pd.DataFrame:
        generator = torch.Generator().manual_seed(seed)
        draws = gradient_samples(estimator, logits, f, draws_per_seed, generator, **kwargs)
        return pd.DataFrame([variance_decomposition(draws * logits.shape[0])])

    return over_seeds(run, seeds)
