"""The categorical distribution ``Cat(softmax(logits))``: one-hots, samples, log-probabilities,
the score function and the entropy.

Legend of the shape comments: ``B`` batch, ``m`` categories, ``S`` samples.
Chapter 2 (``02_non_differentiability``) introduces the distribution, chapter 3
(``03_reinforce``) its score function, chapter 4 (``04_variance_reduction``) the
entropy.

The log-probabilities are ``log_softmax`` gathered at the sample, which is what
``torch.distributions.Categorical(logits=...).log_prob`` computes up to rounding;
the explicit form keeps the book's stored outputs bit for bit and costs no
argument validation per call.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import check_int, check_logits, masked_logits
from .sampling import gumbel_argmax

__all__ = ["entropy", "entropy_gradient", "log_prob", "one_hot", "sample_one_hot", "score_function"]


def one_hot(index: Tensor, num_classes: int, *, dim: int = -1, dtype: torch.dtype = torch.float32) -> Tensor:
    """One-hot vectors ``e_index`` with the categories on axis ``dim``.

    Args:
        index: (...) long tensor.
        num_classes: m.
        dim: where the category axis goes in the output.
        dtype: output dtype.

    Returns:
        (..., m) with the category axis moved to ``dim``. Chapter 1.
    """
    return F.one_hot(index, num_classes).to(dtype).movedim(-1, dim)


def all_one_hots(logits: Tensor) -> Tensor:
    """Every category's one-hot for every batch element, for enumeration: (B, m) -> (m, B, m)."""
    m, batch = logits.shape[-1], logits.shape[:-1]
    eye = torch.eye(m, dtype=logits.dtype, device=logits.device)  # (m, m)
    return eye.view(m, *([1] * len(batch)), m).expand(m, *batch, m)


def sample_one_hot(
    logits: Tensor, num_samples: int = 1, generator: torch.Generator | None = None
) -> tuple[Tensor, Tensor]:
    """Draw one-hot samples and their log-probabilities.

    Args:
        logits: (..., m).
        num_samples: S; with S > 1 the outputs get a leading (S,) axis.
        generator: source of randomness.

    Returns:
        ``(z, log_p)``: (S..., m) one-hots and (S...) ``log softmax(logits)[z]``,
        differentiable in ``logits``. Chapter 3.
    """
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    return draw(masked_logits(logits, None), num_samples, generator)


def draw(logits: Tensor, num_samples: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """The unchecked core of :func:`sample_one_hot`."""
    if num_samples > 1:
        logits = logits.expand(num_samples, *logits.shape)  # (S, B, m)
    index = gumbel_argmax(logits, generator)  # (S, B)
    return one_hot(index, logits.shape[-1], dtype=logits.dtype), log_prob(logits, index)


def log_prob(logits: Tensor, index: Tensor) -> Tensor:
    """``log softmax(logits)[index]``: (..., m), (...) -> (...), differentiable in ``logits``."""
    return torch.log_softmax(logits, dim=-1).gather(-1, index.unsqueeze(-1)).squeeze(-1)


def score_function(z: Tensor, logits: Tensor) -> Tensor:
    """The score ``∇_ℓ log p(z)`` of a one-hot ``z`` under ``Categorical(softmax(ℓ))``.

    .. math:: s(z) = \\nabla_\\ell \\log \\mathrm{softmax}(\\ell)_z = z - \\mathrm{softmax}(\\ell)

    Args:
        z: (S..., m) one-hot samples.
        logits: (..., m), broadcastable to ``z``.

    Returns:
        (S..., m), detached. Chapter 3 derives it; chapter 4 uses it.
    """
    return score(z, check_logits(logits))


def score(z: Tensor, logits: Tensor) -> Tensor:
    """The unchecked core of :func:`score_function`."""
    return (z - torch.softmax(logits, dim=-1)).detach()  # (S, B, m)


def entropy(logits: Tensor) -> Tensor:
    """Entropy of ``Categorical(softmax(logits))`` in nats, with ``0 log 0 = 0``.

    .. math:: H(p) = -\\sum_k p_k \\log p_k

    Args:
        logits: (..., m); ``-inf`` entries count as probability 0.

    Returns:
        (...) differentiable in ``logits``. Chapter 4.
    """
    log_p = torch.log_softmax(check_logits(logits), dim=-1)  # (B, m)
    return -(log_p.exp() * log_p.masked_fill(torch.isneginf(log_p), 0.0)).sum(-1)


def entropy_gradient(logits: Tensor) -> Tensor:
    """The analytic gradient of :func:`entropy` with respect to the logits.

    .. math:: \\frac{\\partial H}{\\partial \\ell_k} = -p_k\\,(\\log p_k + H)

    Returns:
        (..., m), detached; 0 for categories of probability 0. Chapter 4.
    """
    log_p = torch.log_softmax(check_logits(logits).detach(), dim=-1)  # (B, m)
    log_p = log_p.masked_fill(torch.isneginf(log_p), 0.0)
    h = -(log_p.exp() * log_p).sum(-1, keepdim=True)  # (B, 1)
    return -log_p.exp() * (log_p + h)
