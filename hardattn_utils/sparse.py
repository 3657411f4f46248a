"""Sparse attention maps between soft and hard: sparsemax, α-entmax and top-k softmax.

The maps come from the ``entmax`` library (deep-spin): sparsemax (Martins & Astudillo,
2016), 1.5-entmax and α-entmax by bisection (Peters, Niculae & Martins, 2019). The
wrappers here check their arguments once, compute half-precision inputs in float32
and cast the result back: the library's bisection returns NaN for bfloat16 (and, on
GPU, float16) scores whose maximum is far from zero (deep-spin/entmax issue #30).
:func:`topk_softmax` keeps the ``k`` largest scores and renormalises them.

The ``*_read`` functions are the maps written as estimators, with the signature of
:func:`hardattn_utils.soft_read`, so that a sparse reader trains wherever an estimator
is expected (e.g. :func:`hardattn_utils.train_retrieval_seeds`).

Legend of the shape comments: ``B`` batch (any leading shape), ``m`` positions,
``k`` kept. Chapter 12 (``12_sparse_attention``).
"""

from __future__ import annotations

from collections.abc import Callable

import entmax as _entmax
import torch
from torch import Tensor

from ._checks import check_dim, check_int, check_real, compute_dtype, masked_logits
from .estimators import Estimate, LossFn, backprop_read

__all__ = [
    "entmax",
    "entmax15",
    "entmax15_read",
    "sparsemax",
    "sparsemax_read",
    "support_size",
    "topk_read",
    "topk_softmax",
]

_BISECTION_STEPS = 50  # the library's default: the threshold to 2^-50 of its bracket


def _checked(scores: object, dim: int, name: str = "scores") -> tuple[Tensor, int]:
    """Scores without NaN or +inf and with a selectable entry per row; ``dim`` normalised."""
    scores = masked_logits(scores, None, dim, name=name)
    return scores, check_dim(scores, dim)


def _in_float32(fn: Callable[..., Tensor], scores: Tensor, *args: object) -> Tensor:
    """``fn(scores, *args)`` computed in float32 (or wider) and cast back to the input's dtype."""
    work = compute_dtype(scores)
    if work == scores.dtype:
        return fn(scores, *args)
    return fn(scores.to(work), *args).to(scores.dtype)


def sparsemax(scores: Tensor, dim: int = -1) -> Tensor:
    """Sparsemax: the Euclidean projection of the scores onto the probability simplex.

    .. math:: \\mathrm{sparsemax}(s) = \\arg\\min_{p \\in \\Delta} \\lVert p - s \\rVert^2
       = [s - \\tau(s)]_+

    The output is exactly one-hot when the top score exceeds the second by at least 1.

    Args:
        scores: (..., m) floating scores; ``-inf`` masks a position.
        dim: the axis of the m positions.

    Returns:
        (..., m) weights, non-negative, summing to 1, in the scores' dtype.

    Raises:
        ValueError: naming ``scores`` for NaN or +inf, or a row of only ``-inf``.

    Reference: Martins & Astudillo (2016), via the ``entmax`` library. Chapter 12.
    """
    scores, dim = _checked(scores, dim)
    return _in_float32(_entmax.sparsemax, scores, dim)


def entmax15(scores: Tensor, dim: int = -1) -> Tensor:
    """1.5-entmax, by the library's exact sort-based algorithm.

    .. math:: \\mathrm{entmax}_{1.5}(s) = [s/2 - \\tau(s)]_+^2,\\quad \\textstyle\\sum = 1

    The output is exactly one-hot when the top score exceeds the second by at least 2.

    Args:
        scores: (..., m) floating scores; ``-inf`` masks a position.
        dim: the axis of the m positions.

    Returns:
        (..., m) weights, non-negative, summing to 1, in the scores' dtype.

    Raises:
        ValueError: naming ``scores`` for NaN or +inf, or a row of only ``-inf``.

    Reference: Peters, Niculae & Martins (2019), via the ``entmax`` library. Chapter 12.
    """
    scores, dim = _checked(scores, dim)
    return _in_float32(_entmax.entmax15, scores, dim)


def entmax(scores: Tensor, alpha: float, dim: int = -1) -> Tensor:
    """α-entmax for any α ≥ 1: softmax at α = 1, sparsemax at α = 2, sparser beyond.

    .. math:: \\alpha\\text{-entmax}(s) = [(\\alpha - 1)\\, s - \\tau(s)]_+^{1/(\\alpha - 1)},
       \\quad \\textstyle\\sum = 1

    α = 1 is the softmax, α = 1.5 and α = 2 use the library's exact algorithms, every
    other α its bisection for the threshold τ (50 halvings). The output is exactly
    one-hot when the top score exceeds the second by at least 1/(α − 1).

    Args:
        scores: (..., m) floating scores; ``-inf`` masks a position.
        alpha: α ≥ 1, a number.
        dim: the axis of the m positions.

    Returns:
        (..., m) weights, non-negative, summing to 1, in the scores' dtype.

    Raises:
        ValueError: naming ``scores`` (NaN, +inf, a row of only ``-inf``) or ``alpha``
            (below 1 or not finite).

    Reference: Peters, Niculae & Martins (2019), via the ``entmax`` library. Chapter 12.
    """
    alpha = check_real(alpha, "alpha", minimum=1.0)
    scores, dim = _checked(scores, dim)
    if alpha == 1.0:
        return torch.softmax(scores, dim)
    if alpha in (1.5, 2.0):
        return _in_float32(_entmax.entmax15 if alpha == 1.5 else _entmax.sparsemax, scores, dim)
    return _in_float32(_bisect, scores, alpha, dim)


def _bisect(scores: Tensor, alpha: float, dim: int) -> Tensor:
    """The library's α-entmax by bisection (unchecked core)."""
    return _entmax.entmax_bisect(scores, alpha, dim, _BISECTION_STEPS)


def topk_softmax(scores: Tensor, k: int, dim: int = -1) -> Tensor:
    """Softmax over the ``k`` largest scores of each row, exactly zero elsewhere.

    .. math:: p_i = \\frac{e^{s_i}\\,[i \\in \\mathrm{top}_k(s)]}
       {\\sum_{j \\in \\mathrm{top}_k(s)} e^{s_j}}

    Ties at the k-th score are broken towards the lower index (a stable sort), so the
    support has exactly ``k`` positions, fewer only where masked (``-inf``) positions
    are among them (they get weight 0). k = 1 is the hard argmax read; k = m the softmax.
    The gradient flows to the kept scores only.

    Args:
        scores: (..., m) floating scores; ``-inf`` masks a position.
        k: positions kept, 1 ≤ k ≤ m.
        dim: the axis of the m positions.

    Returns:
        (..., m) weights summing to 1, in the scores' dtype.

    Raises:
        ValueError: naming ``scores`` (NaN, +inf, a row of only ``-inf``) or ``k``.
        TypeError: if ``k`` is not an int.

    Reference: the softmax restricted to a hard top-k selection (Martins & Astudillo,
    2016, compare sparsemax with it as a thresholded softmax). Chapter 12.
    """
    scores, dim = _checked(scores, dim)
    k = check_int(k, "k", minimum=1, maximum=scores.shape[dim])
    return _in_float32(_topk_softmax, scores, k, dim)


def _topk_softmax(scores: Tensor, k: int, dim: int) -> Tensor:
    """Unchecked core of :func:`topk_softmax`."""
    order = torch.sort(scores.detach(), dim=dim, descending=True, stable=True).indices
    kept = order.narrow(dim, 0, k)  # (..., k) the lowest index first among ties
    weights = torch.softmax(scores.gather(dim, kept), dim)  # (..., k)
    return torch.zeros_like(scores).scatter(dim, kept, weights)  # (..., m)


def support_size(weights: Tensor, dim: int = -1) -> Tensor:
    """How many positions carry non-zero weight: 1 means the read is an exact copy.

    .. math:: |\\mathrm{supp}(p)| = \\#\\{i : p_i > 0\\}

    Args:
        weights: (..., m) attention weights (any floating dtype).
        dim: the axis of the m positions.

    Returns:
        (...) long counts. Chapter 12.
    """
    if not isinstance(weights, Tensor):
        raise TypeError(f"weights must be a torch.Tensor, got {type(weights).__name__}")
    return (weights > 0).sum(check_dim(weights, dim))


def sparsemax_read(logits: Tensor, f: LossFn, *, generator: torch.Generator | None = None) -> Estimate:
    """Sparsemax attention written as an estimator: ``z = sparsemax(logits)``, exact backprop.

    .. math:: z = \\mathrm{sparsemax}(\\ell),\\quad \\hat g = \\nabla_\\ell f(z)

    Deterministic: ``generator`` is accepted for the common signature and unused.

    Args:
        logits: (..., m) read scores.
        f: loss of a selection, (..., m) -> (...).
        generator: unused.

    Returns:
        ``Estimate(surrogate=f(z).mean(), loss=f(z) detached, z)``. Chapter 12.
    """
    return backprop_read(sparsemax(logits), f)


def entmax15_read(logits: Tensor, f: LossFn, *, generator: torch.Generator | None = None) -> Estimate:
    """1.5-entmax attention written as an estimator: ``z = entmax15(logits)``, exact backprop.

    .. math:: z = \\mathrm{entmax}_{1.5}(\\ell),\\quad \\hat g = \\nabla_\\ell f(z)

    Args:
        logits: (..., m) read scores.
        f: loss of a selection, (..., m) -> (...).
        generator: unused (the map is deterministic).

    Returns:
        ``Estimate(surrogate=f(z).mean(), loss=f(z) detached, z)``. Chapter 12.
    """
    return backprop_read(entmax15(logits), f)


def topk_read(logits: Tensor, f: LossFn, *, k: int, generator: torch.Generator | None = None) -> Estimate:
    """Top-k softmax attention written as an estimator: ``z = topk_softmax(logits, k)``.

    .. math:: z = \\mathrm{softmax}(\\ell\\,|\\,\\mathrm{top}_k),\\quad \\hat g = \\nabla_\\ell f(z)

    Args:
        logits: (..., m) read scores.
        f: loss of a selection, (..., m) -> (...).
        k: positions kept, 1 ≤ k ≤ m (k = 1 gives no gradient to the scores).
        generator: unused (the map is deterministic).

    Returns:
        ``Estimate(surrogate=f(z).mean(), loss=f(z) detached, z)``. Chapter 12.
    """
    return backprop_read(topk_softmax(logits, k), f)
