"""Entropy regularisation of a categorical choice, with the analytic gradient.

Chapter 4 (``04_variance_reduction``) measures its effect on premature collapse.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real

import torch
from torch import Tensor

from ._checks import check_logits, masked_to_zero
from .estimators import Estimate, LossFn

__all__ = ["entropy", "entropy_bonus", "entropy_gradient", "with_entropy_bonus"]


def entropy(logits: Tensor) -> Tensor:
    """Entropy of ``Categorical(softmax(logits))`` in nats, with ``0 log 0 = 0``.

    .. math:: H(p) = -\\sum_k p_k \\log p_k

    Args:
        logits: (..., K); ``-inf`` entries count as probability 0.

    Returns:
        (...) differentiable in ``logits``. Chapter 4.
    """
    log_p = torch.log_softmax(check_logits(logits), dim=-1)
    return -(log_p.exp() * log_p.masked_fill(torch.isneginf(log_p), 0.0)).sum(-1)


def entropy_gradient(logits: Tensor) -> Tensor:
    """The analytic gradient of :func:`entropy` with respect to the logits.

    .. math:: \\frac{\\partial H}{\\partial \\ell_k} = -p_k\\,(\\log p_k + H)

    Returns:
        (..., K), detached; 0 for categories of probability 0. Chapter 4.
    """
    log_p = torch.log_softmax(check_logits(logits).detach(), dim=-1)
    log_p = log_p.masked_fill(torch.isneginf(log_p), 0.0)
    h = -(log_p.exp() * log_p).sum(-1, keepdim=True)
    return -log_p.exp() * (log_p + h)


def entropy_bonus(logits: Tensor, beta: float) -> Tensor:
    """A scalar to add to a surrogate that subtracts ``beta`` times the mean entropy.

    Its gradient is ``−beta ∇_ℓ H`` (exact, from :func:`entropy_gradient`, no
    sampling), averaged over batch elements like every surrogate; minimising the
    loss then favours spread-out attention.

    .. math:: \\mathcal L = \\mathbb E[f] - \\beta H(p)

    Args:
        logits: (..., K).
        beta: entropy weight >= 0.

    Returns:
        Scalar surrogate (its value is not the entropy; use :func:`entropy` to log it).
    """
    if isinstance(beta, bool) or not isinstance(beta, Real) or beta < 0:
        raise ValueError(f"beta must be a number >= 0, got {beta!r}")
    return -(beta * (entropy_gradient(logits) * masked_to_zero(logits)).sum(-1)).mean()


def with_entropy_bonus(estimator: Callable[..., Estimate], beta: float) -> Callable[..., Estimate]:
    """Wrap an estimator so its surrogate also carries :func:`entropy_bonus` ``(logits, beta)``.

    Chapter 4.
    """
    if not callable(estimator):
        raise TypeError(f"estimator must be callable, got {type(estimator).__name__}")
    entropy_bonus(torch.zeros(2), beta)  # validates beta now, not at the first step

    def wrapped(logits: Tensor, f: LossFn, **kwargs: object) -> Estimate:
        estimate = estimator(logits, f, **kwargs)
        return estimate._replace(surrogate=estimate.surrogate + entropy_bonus(logits, beta))

    wrapped.__name__ = f"{getattr(estimator, '__name__', 'estimator')} + entropy({beta:g})"
    return wrapped
