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

from ._checks import check_logits
from .estimators import ESTIMATORS, Estimate, LossFn

__all__ = ["exact_gradient", "expected_loss", "gradient_samples", "gradient_stats"]


def expected_loss(logits: Tensor, f: LossFn) -> Tensor:
    """Exact ``E_{z ~ Cat(softmax(logits))}[f(z)]`` by enumeration.

    .. math:: L(\\ell) = \\sum_{k=1}^K \\mathrm{softmax}(\\ell)_k\\, f(e_k)

    Args:
        logits: (..., K).
        f: loss of one-hots; called once on a (K, ..., K) stack of them.

    Returns:
        (...) differentiable in ``logits`` and in any parameters of ``f``.
    """
    logits = check_logits(logits)
    K, batch = logits.shape[-1], logits.shape[:-1]
    eye = torch.eye(K, dtype=logits.dtype, device=logits.device)
    one_hots = eye.view(K, *([1] * len(batch)), K).expand(K, *batch, K)
    losses = f(one_hots)
    if not isinstance(losses, Tensor) or losses.shape != (K, *batch):
        raise ValueError(f"f must map one-hots of shape {tuple(one_hots.shape)} to shape {(K, *batch)}")
    probs = torch.softmax(logits, dim=-1).movedim(-1, 0)
    return (probs * losses).sum(0)


def exact_gradient(logits: Tensor, f: LossFn) -> Tensor:
    """``d mean(expected_loss(logits, f)) / d logits`` by enumeration.

    The mean runs over batch elements, as in every estimator's surrogate.

    Returns:
        (..., K) tensor, detached.
    """
    leaf = check_logits(logits).detach().clone().requires_grad_(True)
    (grad,) = torch.autograd.grad(expected_loss(leaf, f).mean(), leaf)
    return grad


def _resolve(estimator: str | Callable[..., Estimate]) -> tuple[str, Callable[..., Estimate]]:
    if isinstance(estimator, str):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator {estimator!r} is not in ESTIMATORS: {sorted(ESTIMATORS)}")
        return estimator, ESTIMATORS[estimator]
    if not callable(estimator):
        raise TypeError(f"estimator must be a name or a callable, got {type(estimator).__name__}")
    name = getattr(estimator, "__name__", None) or getattr(
        getattr(estimator, "func", None), "__name__", "estimator"
    )
    return name, estimator


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
    _, est = _resolve(estimator)
    if isinstance(num_draws, bool) or not isinstance(num_draws, int) or num_draws < 2:
        raise ValueError(f"num_draws must be an int >= 2, got {num_draws!r}")
    base = check_logits(logits).detach()
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
    name, _ = _resolve(estimator)
    draws = gradient_samples(estimator, logits, f, num_draws, generator, batched=batched)
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
