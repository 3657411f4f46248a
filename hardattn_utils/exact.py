"""Exact expectations and gradients by enumerating the K categories, and the
statistics (bias, variance, signal-to-noise ratio) of an estimator against them.

Chapter 2 introduces the exact expected loss; chapter 3 measures estimators with
:func:`gradient_stats`.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import torch
from torch import Tensor

from ._checks import check_int, check_loss, masked_logits
from .categorical import all_one_hots
from .estimators import Estimate, LossFn
from .registry import resolve

__all__ = ["exact_gradient", "expected_loss", "gradient_samples", "gradient_stats"]


def expected_loss(logits: Tensor, f: LossFn) -> Tensor:
    """Exact ``E_{z ~ Cat(softmax(logits))}[f(z)]`` by enumeration.

    .. math:: L(\\ell) = \\sum_{k=1}^m \\mathrm{softmax}(\\ell)_k\\, f(e_k)

    Args:
        logits: (B..., m).
        f: loss of one-hots; called once on a (m, B..., m) stack of them.

    Returns:
        (B...) differentiable in ``logits`` and in any parameters of ``f``.

    Raises:
        ValueError: for NaN or +inf logits, or a row of only ``-inf`` (no distribution).

    Chapter 2.
    """
    return _expected_loss(masked_logits(logits, None), f)


def _expected_loss(logits: Tensor, f: LossFn) -> Tensor:
    losses = check_loss(f, all_one_hots(logits))  # (m, B)
    probs = torch.softmax(logits, dim=-1).movedim(-1, 0)  # (m, B)
    return (probs * losses).sum(0)


def exact_gradient(logits: Tensor, f: LossFn) -> Tensor:
    """``d mean(expected_loss(logits, f)) / d logits`` by enumeration.

    The mean runs over batch elements, as in every estimator's surrogate.

    Returns:
        (B..., m) tensor, detached. Chapter 2.
    """
    leaf = masked_logits(logits, None).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(_expected_loss(leaf, f).mean(), leaf)
    return grad


def gradient_samples(
    estimator: str | Callable[..., Estimate],
    logits: Tensor,
    f: LossFn,
    num_draws: int,
    generator: torch.Generator | None = None,
    *,
    batched: bool = True,
) -> Tensor:
    """``num_draws`` independent estimates of ``exact_gradient(logits, f)``.

    Args:
        estimator: a name in ``ESTIMATORS`` or an estimator (use
            ``functools.partial`` for hyper-parameters).
        logits: (..., K).
        f: the loss.
        num_draws: N.
        generator: source of randomness.
        batched: draw all N at once as a batch (valid for estimators whose
            surrogate is a mean of per-element terms); ``False`` loops.

    Returns:
        (N, ..., K) tensor of gradient estimates.
    """
    _, est = resolve(estimator)
    num_draws = check_int(num_draws, "num_draws", minimum=2)
    base = masked_logits(logits, None).detach()
    if batched:
        leaf = base.expand(num_draws, *base.shape).clone().requires_grad_(True)
        est(leaf, f, generator=generator).surrogate.backward()
        return leaf.grad * num_draws
    draws = []
    for _ in range(num_draws):
        leaf = base.clone().requires_grad_(True)
        est(leaf, f, generator=generator).surrogate.backward()
        draws.append(leaf.grad)
    return torch.stack(draws)


def gradient_stats(
    estimator: str | Callable[..., Estimate],
    logits: Tensor,
    f: LossFn,
    num_draws: int,
    generator: torch.Generator | None = None,
    *,
    batched: bool = True,
) -> pd.DataFrame:
    """Bias, variance and signal-to-noise ratio of an estimator, per logit coordinate.

    Columns: ``estimator``, ``coordinate`` (flat index), ``exact``, ``mean``,
    ``se`` (standard error of the mean), ``bias`` (mean − exact), ``z``
    (bias / se), ``variance`` (per-draw), ``snr`` (|mean| / std).

    Chapter 3 explains each column.
    """
    name, est = resolve(estimator)
    draws = gradient_samples(est, logits, f, num_draws, generator, batched=batched)
    draws = draws.reshape(num_draws, -1).double().cpu()  # the DataFrame needs host memory
    exact = exact_gradient(logits, f).reshape(-1).double().cpu()
    mean, var = draws.mean(0), draws.var(0)
    se = (var / num_draws).sqrt()
    frame = pd.DataFrame(
        {
            "estimator": name,
            "coordinate": range(exact.numel()),
            "exact": exact.numpy(),
            "mean": mean.numpy(),
            "se": se.numpy(),
            "bias": (mean - exact).numpy(),
            "variance": var.numpy(),
        }
    )
    frame["z"] = frame["bias"] / frame["se"].where(frame["se"] > 0)
    frame["snr"] = frame["mean"].abs() / frame["variance"].pow(0.5).where(frame["variance"] > 0)
    return frame
