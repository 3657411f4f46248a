"""Gradient estimators for a loss of a categorical sample, behind one signature.

Every estimator is ``(logits, f, *, keyword-only hyper-parameters, generator=None)
-> Estimate``; ``Estimate.surrogate.backward()`` leaves the estimate of
``d E[f(z)] / d logits`` (mean over batch elements) in ``logits.grad``, and the
gradient of ``E[f]`` for any parameters inside ``f``.

Chapter 3 (``03_reinforce``) derives :func:`reinforce`, chapter 4 the baselines,
chapter 5 the Gumbel-Softmax estimators and chapter 6 the straight-through ones.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import check_logits
from .sampling import gumbel_max_sample, gumbel_softmax, one_hot, straight_through

__all__ = [
    "ESTIMATORS",
    "Estimate",
    "LossFn",
    "gumbel_softmax_estimator",
    "reinforce",
    "rloo",
    "sample_one_hot",
    "st_gumbel_softmax",
    "straight_through_softmax",
]

#: ``z`` (..., K), one-hot or relaxed -> loss (...), to be minimised.
LossFn = Callable[[Tensor], Tensor]


class Estimate(NamedTuple):
    """What an estimator returns.

    Attributes:
        surrogate: scalar; ``surrogate.backward()`` yields the estimator's gradient.
        loss: (...) ``f(z)`` at the sample(s) used, detached, for logging.
        z: (..., K) the sample(s) fed to ``f``.
    """

    surrogate: Tensor
    loss: Tensor
    z: Tensor


def _loss(f: LossFn, z: Tensor) -> Tensor:
    loss = f(z)
    if not isinstance(loss, Tensor) or loss.shape != z.shape[:-1]:
        got = tuple(loss.shape) if isinstance(loss, Tensor) else type(loss).__name__
        raise ValueError(
            f"f must map z of shape {tuple(z.shape)} to a loss of shape {tuple(z.shape[:-1])}, got {got}"
        )
    return loss


def _samples(logits: Tensor, num_samples: int) -> Tensor:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 1:
        raise ValueError(f"num_samples must be a positive int, got {num_samples!r}")
    return logits if num_samples == 1 else logits.expand(num_samples, *logits.shape)


def sample_one_hot(
    logits: Tensor, num_samples: int = 1, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw one-hot samples and their log-probabilities.

    Args:
        logits: (..., K).
        num_samples: S; with S > 1 the outputs get a leading (S,) axis.
        generator: source of randomness.

    Returns:
        ``(z, log_p)``: (S..., K) one-hots and (S...) ``log softmax(logits)[z]``,
        differentiable in ``logits``.
    """
    logits = _samples(check_logits(logits), num_samples)
    index = gumbel_max_sample(logits, generator=generator)
    log_p = torch.log_softmax(logits, dim=-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)
    return one_hot(index, logits.shape[-1], dtype=logits.dtype), log_p


def reinforce(
    logits: Tensor,
    f: LossFn,
    *,
    baseline: float | Tensor = 0.0,
    num_samples: int = 1,
    generator: torch.Generator | None = None,
) -> Estimate:
    """REINFORCE (score-function) estimator with an optional baseline.

    .. math:: \\hat g = \\frac1S\\sum_s \\big(f(z_s) - b\\big)\\,\\nabla\\log p(z_s)
       + \\nabla_\\theta f(z_s)

    Unbiased when ``b`` does not depend on the sample it scores.

    Args:
        logits: (..., K).
        f: loss of a one-hot sample.
        baseline: a number or a tensor broadcastable to the loss (detached).
        num_samples: S i.i.d. samples averaged (outputs get a leading S axis if S > 1).
        generator: source of randomness.

    Reference: Williams (1992). Chapter 3.
    """
    if not isinstance(baseline, Tensor | Real) or isinstance(baseline, bool):
        raise TypeError(f"baseline must be a number or a Tensor, got {type(baseline).__name__}")
    z, log_p = sample_one_hot(logits, num_samples, generator)
    loss = _loss(f, z)
    b = baseline.detach() if isinstance(baseline, Tensor) else baseline
    surrogate = (loss + (loss.detach() - b) * log_p).mean()
    return Estimate(surrogate, loss.detach(), z)


def rloo(
    logits: Tensor, f: LossFn, *, num_samples: int = 4, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the leave-one-out baseline over S samples (unbiased).

    .. math:: \\hat g = \\frac1S\\sum_s \\Big(f(z_s) - \\frac1{S-1}\\sum_{j\\ne s} f(z_j)\\Big)
       \\nabla\\log p(z_s)

    Args:
        logits: (..., K).
        f: loss of a one-hot sample.
        num_samples: S >= 2.
        generator: source of randomness.

    Returns:
        ``Estimate`` with ``loss`` and ``z`` of leading shape (S,).

    Reference: Kool, van Hoof & Welling (2019). Chapter 4.
    """
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < 2:
        raise ValueError(f"num_samples must be an int >= 2 for leave-one-out, got {num_samples!r}")
    z, log_p = sample_one_hot(logits, num_samples, generator)
    loss = _loss(f, z)
    detached = loss.detach()
    baseline = (detached.sum(0, keepdim=True) - detached) / (num_samples - 1)
    surrogate = (loss + (detached - baseline) * log_p).mean()
    return Estimate(surrogate, detached, z)


def gumbel_softmax_estimator(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """Pathwise gradient through a relaxed Gumbel-Softmax sample (biased for tau > 0).

    .. math:: \\hat g = \\nabla f(y),\\quad y = \\mathrm{softmax}((\\ell + g)/\\tau)

    Reference: Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017). Chapter 5.
    """
    z = gumbel_softmax(logits, tau=tau, generator=generator)
    loss = _loss(f, z)
    return Estimate(loss.mean(), loss.detach(), z)


def st_gumbel_softmax(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """Straight-through Gumbel-Softmax: one-hot forward, relaxed-sample gradient backward.

    Reference: Jang, Gu & Poole (2017). Chapter 6.
    """
    z = gumbel_softmax(logits, tau=tau, hard=True, generator=generator)
    loss = _loss(f, z)
    return Estimate(loss.mean(), loss.detach(), z)


def straight_through_softmax(
    logits: Tensor, f: LossFn, *, generator: torch.Generator | None = None
) -> Estimate:
    """Straight-through softmax: a one-hot sample forward, ``softmax(logits)``'s gradient backward.

    .. math:: \\hat g = \\frac{\\partial f}{\\partial z}\\Big|_{z=e_i}
       \\frac{\\partial\\,\\mathrm{softmax}(\\ell)}{\\partial \\ell},\\quad i \\sim p

    Reference: Bengio, Léonard & Courville (2013). Chapter 6.
    """
    logits = check_logits(logits)
    index = gumbel_max_sample(logits, generator=generator)
    probs = torch.softmax(logits, dim=-1)
    z = straight_through(one_hot(index, logits.shape[-1], dtype=logits.dtype), probs)
    loss = _loss(f, z)
    return Estimate(loss.mean(), loss.detach(), z)


#: name -> estimator. The name is also the label in tables and plots
#: (:data:`hardattn_utils.plotting.ESTIMATOR_COLORS`).
ESTIMATORS: dict[str, Callable[..., Estimate]] = {
    "REINFORCE": reinforce,
    "RLOO": rloo,
    "Gumbel-Softmax": gumbel_softmax_estimator,
    "ST Gumbel-Softmax": st_gumbel_softmax,
    "ST softmax": straight_through_softmax,
}
