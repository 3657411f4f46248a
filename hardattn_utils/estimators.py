"""Gradient estimators for a loss of a categorical sample, behind one signature.

Every estimator is ``(logits, f, *, keyword-only hyper-parameters, generator=None)
-> Estimate``; ``Estimate.surrogate.backward()`` leaves the estimate of
``d E[f(z)] / d logits`` (mean over batch elements) in ``logits.grad``, and the
gradient of ``E[f]`` for any parameters inside ``f``.

Legend of the shape comments: ``B`` batch (any leading shape), ``m`` categories,
``S`` samples (the axis exists only when ``num_samples > 1``).

Chapter 3 (``03_reinforce``) derives :func:`reinforce`, chapter 4 its baselines
(:mod:`hardattn_utils.baselines`), chapter 5 the Gumbel-Softmax estimators and
chapter 6 the straight-through ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import (
    check_baseline,
    check_callable,
    check_estimator_logits,
    check_loss,
    check_nonempty,
    check_real,
    masked_to_zero,
)
from .categorical import (
    draw,
    entropy_gradient,
    one_hot,
    sample_one_hot,  # noqa: F401 (the applications import it from here until apps/)
)
from .sampling import gumbel_argmax, gumbel_softmax, straight_through

__all__ = [
    "Estimate",
    "LossFn",
    "backprop_read",
    "entropy_bonus",
    "gumbel_softmax_estimator",
    "reinforce",
    "soft_read",
    "st_gumbel_softmax",
    "straight_through_softmax",
    "with_entropy_bonus",
]

#: ``z`` (..., m), one-hot or relaxed -> loss (...), to be minimised.
LossFn = Callable[[Tensor], Tensor]
#: A REINFORCE baseline: a number, a tensor broadcastable to the losses, or a
#: callable ``losses (S, B) -> baselines`` broadcastable to them.
Baseline = float | Tensor | Callable[[Tensor], Tensor | float]


class Estimate(NamedTuple):
    """What an estimator returns.

    Attributes:
        surrogate: scalar; ``surrogate.backward()`` yields the estimator's gradient.
        loss: (...) ``f(z)`` at the sample(s) used, detached, for logging.
        z: (..., m) the sample(s) fed to ``f``.
    """

    surrogate: Tensor
    loss: Tensor
    z: Tensor


def loss_shape(logits: Tensor, num_samples: int) -> tuple[int, ...]:
    """Shape of the losses of ``num_samples`` draws: (S, B) or (B) when S = 1."""
    batch = tuple(logits.shape[:-1])
    return batch if num_samples == 1 else (num_samples, *batch)


def reinforce(
    logits: Tensor,
    f: LossFn,
    *,
    num_samples: int = 1,
    baseline: Baseline = 0.0,
    generator: torch.Generator | None = None,
) -> Estimate:
    """The score-function (REINFORCE) estimator with a baseline ``b``.

    .. math:: \\hat g = \\frac1S\\sum_s \\big(f(z_s) - b_s\\big)\\nabla_\\ell \\log p(z_s),
       \\quad z_s \\sim \\mathrm{Cat}(\\mathrm{softmax}(\\ell))

    The surrogate ``(loss + (sg(loss) - b) * log_p).mean()`` also carries the pathwise
    term, so parameters inside ``f`` learn too. The estimate stays unbiased when
    ``b_s`` does not depend on ``z_s`` (leave-one-out does not; a batch mean does).

    Args:
        logits: (B..., m).
        f: loss of a one-hot sample, (S, B..., m) -> (S, B...).
        num_samples: S; with S > 1, ``loss`` and ``z`` get a leading (S,) axis.
        baseline: a number, a tensor broadcastable to the losses (detached), or a
            callable on the detached losses (S, B...) -> baselines, e.g.
            :func:`hardattn_utils.baselines.leave_one_out`.
        generator: source of randomness.

    Raises:
        ValueError: for bad logits, an empty batch, a NaN or misshapen baseline.

    Reference: Williams (1992). Chapter 3.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples)
    baseline = check_baseline(baseline, loss_shape(logits, num_samples))
    return reinforce_core(logits, f, num_samples, baseline, generator)


def reinforce_core(
    logits: Tensor, f: LossFn, num_samples: int, baseline: Baseline, generator: torch.Generator | None
) -> Estimate:
    """The unchecked core of :func:`reinforce`, for estimators that checked their arguments."""
    z, log_p = draw(logits, num_samples, generator)  # (S, B, m), (S, B)
    loss = check_loss(f, z)  # (S, B)
    b = baseline(loss.detach()) if callable(baseline) else baseline  # broadcasts to (S, B)
    surrogate = (loss + (loss.detach() - b) * log_p).mean()
    return Estimate(surrogate, loss.detach(), z)


def gumbel_softmax_estimator(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """Pathwise gradient through a relaxed Gumbel-Softmax sample (biased for tau > 0).

    .. math:: \\hat g = \\nabla_\\ell f(y),\\quad y = \\mathrm{softmax}((\\ell + g)/\\tau)

    Args:
        logits: (B..., m). f: loss of a relaxed sample. tau: temperature > 0.
        generator: source of randomness.

    Reference: Jang, Gu & Poole (2017); Maddison, Mnih & Teh (2017). Chapter 5.
    """
    return _relaxed(logits, f, tau, False, generator)


def st_gumbel_softmax(
    logits: Tensor, f: LossFn, *, tau: float = 1.0, generator: torch.Generator | None = None
) -> Estimate:
    """Straight-through Gumbel-Softmax: one-hot forward, relaxed-sample gradient backward.

    .. math:: z = e_{\\arg\\max_k y_k},\\quad
       \\hat g = \\frac{\\partial f}{\\partial z}\\frac{\\partial y}{\\partial \\ell}

    Reference: Jang, Gu & Poole (2017). Chapter 6.
    """
    return _relaxed(logits, f, tau, True, generator)


def _relaxed(
    logits: Tensor, f: LossFn, tau: float, hard: bool, generator: torch.Generator | None
) -> Estimate:
    z = gumbel_softmax(check_nonempty(logits), tau=tau, hard=hard, generator=generator)  # (B, m)
    loss = check_loss(f, z)  # (B)
    return Estimate(loss.mean(), loss.detach(), z)


def straight_through_softmax(
    logits: Tensor, f: LossFn, *, generator: torch.Generator | None = None
) -> Estimate:
    """Straight-through softmax: a one-hot sample forward, ``softmax(logits)``'s gradient backward.

    .. math:: \\hat g = \\frac{\\partial f}{\\partial z}\\Big|_{z=e_i}
       \\frac{\\partial\\,\\mathrm{softmax}(\\ell)}{\\partial \\ell},\\quad i \\sim p

    Reference: Bengio, Léonard & Courville (2013). Chapter 6.
    """
    logits, _ = check_estimator_logits(logits, 1)
    index = gumbel_argmax(logits, generator)  # (B)
    probs = torch.softmax(logits, dim=-1)  # (B, m)
    z = straight_through(one_hot(index, logits.shape[-1], dtype=logits.dtype), probs)  # (B, m)
    loss = check_loss(f, z)  # (B)
    return Estimate(loss.mean(), loss.detach(), z)


def entropy_bonus(logits: Tensor, beta: float) -> Tensor:
    """A scalar to add to a surrogate that subtracts ``beta`` times the mean entropy.

    Its gradient is ``−beta ∇_ℓ H`` (exact, from
    :func:`hardattn_utils.categorical.entropy_gradient`, no sampling), averaged over
    batch elements like every surrogate; minimising the loss then favours spread-out
    attention.

    .. math:: \\mathcal L = \\mathbb E[f] - \\beta H(p)

    Args:
        logits: (B..., m).
        beta: entropy weight >= 0.

    Returns:
        Scalar surrogate (its value is not the entropy). Chapter 4.
    """
    beta = check_real(beta, "beta", minimum=0.0)
    return -(beta * (entropy_gradient(logits) * masked_to_zero(logits)).sum(-1)).mean()


def with_entropy_bonus(estimator: Callable[..., Estimate], beta: float) -> Callable[..., Estimate]:
    """Wrap an estimator so its surrogate also carries :func:`entropy_bonus` ``(logits, beta)``.

    Chapter 4.
    """
    check_callable(estimator, "estimator")
    beta = check_real(beta, "beta", minimum=0.0)

    def wrapped(logits: Tensor, f: LossFn, **kwargs: object) -> Estimate:
        estimate = estimator(logits, f, **kwargs)
        return estimate._replace(surrogate=estimate.surrogate + entropy_bonus(logits, beta))

    wrapped.__name__ = f"{getattr(estimator, '__name__', 'estimator')} + entropy({beta:g})"
    return wrapped


def soft_read(logits: Tensor, f: LossFn) -> Estimate:
    """Soft attention written as an estimator: ``z = softmax(logits)``, exact backpropagation.

    .. math:: z = \\mathrm{softmax}(\\ell),\\quad \\hat g = \\nabla_\\ell f(z)

    It lets a soft reader train wherever an estimator is expected (e.g.
    :func:`hardattn_utils.train_retrieval_seeds`), next to the hard ones.

    Args:
        logits: (..., m) read scores.
        f: loss of a selection, (..., m) -> (...).

    Returns:
        ``Estimate(surrogate=f(z).mean(), loss=f(z) detached, z)``. Chapters 3 and 9.
    """
    return backprop_read(torch.softmax(logits, dim=-1), f)


def backprop_read(z: Tensor, f: LossFn) -> Estimate:
    """A deterministic read ``z`` scored by ``f`` and trained by exact backpropagation.

    .. math:: \\hat g = \\nabla_\\ell f(z(\\ell))

    The one body of :func:`soft_read` and of the sparse readers of chapter 12
    (:func:`hardattn_utils.sparsemax_read` and the like).

    Args:
        z: (..., m) weights computed from the logits (softmax, sparsemax, ...).
        f: loss of a selection, (..., m) -> (...).

    Returns:
        ``Estimate(surrogate=f(z).mean(), loss=f(z) detached, z)``. Chapters 3, 9 and 12.
    """
    loss = f(z)  # (...)
    return Estimate(loss.mean(), loss.detach(), z)
