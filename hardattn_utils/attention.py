"""Soft and hard attention reads over a set of values.

Chapter 1 (``01_hard_vs_soft``) defines both and measures their difference.
Shapes: ``B...`` batch dimensions, ``m`` positions, ``d`` features.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from ._checks import check_tensor, compute_dtype, masked_logits
from .sampling import gumbel_argmax

__all__ = ["hard_attention", "masked_softmax", "soft_attention"]

MODES = ("argmax", "sample")


def masked_softmax(scores: Tensor, mask: Tensor | None = None, dim: int = -1) -> Tensor:
    """Softmax that is exactly zero where ``mask`` is False and finite for extreme scores.

    .. math:: \\alpha_i = \\frac{[\\text{mask}_i] e^{s_i}}{\\sum_j [\\text{mask}_j] e^{s_j}}

    Args:
        scores: (..., m); computed in float32 for half-precision inputs.
        mask: bool broadcastable to ``scores``; True = may be selected.
        dim: the categorical axis.

    Returns:
        (..., m) weights in the dtype of ``scores``.
    """
    logits = masked_logits(scores, mask, dim, name="scores")
    return torch.softmax(logits.to(compute_dtype(logits)), dim=dim).to(scores.dtype)


def _check_values(scores: Tensor, values: object) -> Tensor:
    values = check_tensor(values, "values")
    if values.dim() < 2 or values.shape[-2] != scores.shape[-1]:
        raise ValueError(
            f"values must have shape (..., m, d) with m = scores.shape[-1] = {scores.shape[-1]}, "
            f"got {tuple(values.shape)}"
        )
    try:
        if scores.shape[:-1] != values.shape[:-2]:  # equal batch shapes need no (slow) check
            torch.broadcast_shapes(scores.shape[:-1], values.shape[:-2])
    except RuntimeError:
        raise ValueError(
            f"batch shapes of scores {tuple(scores.shape[:-1])} and values "
            f"{tuple(values.shape[:-2])} do not broadcast"
        ) from None
    return values


def soft_attention(scores: Tensor, values: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Blend the values with softmax weights.

    .. math:: c = \\sum_i \\alpha_i v_i,\\quad \\alpha = \\mathrm{softmax}(s)

    Args:
        scores: (B..., m) attention scores.
        values: (B..., m, d) one value per position.
        mask: bool broadcastable to ``scores``; True = may be attended.

    Returns:
        ``(context, weights)``: (B..., d) blend and (B..., m) weights.

    Reference: Bahdanau, Cho & Bengio (2015). Chapter 1.
    """
    check_tensor(scores, "scores")
    values = _check_values(scores, values)
    weights = masked_softmax(scores, mask)
    context = (weights.to(values.dtype).unsqueeze(-2) @ values).squeeze(-2)
    return context, weights


def hard_attention(
    scores: Tensor,
    values: Tensor,
    mask: Tensor | None = None,
    mode: Literal["argmax", "sample"] = "argmax",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Read exactly one value: the best-scoring one, or one sampled from softmax(scores).

    .. math:: i^* = \\arg\\max_i s_i \\;\\text{or}\\; i \\sim \\mathrm{Cat}(\\mathrm{softmax}(s)),
       \\quad c = v_{i}

    Args:
        scores: (B..., m) attention scores.
        values: (B..., m, d) one value per position.
        mask: bool broadcastable to ``scores``; True = may be selected.
        mode: ``"argmax"`` (deterministic) or ``"sample"`` (stochastic).
        generator: source of randomness for ``mode="sample"``.

    Returns:
        ``(context, index)``: (B..., d) equal to ``values[..., index, :]`` exactly,
        and the (B...) long index. No gradient reaches ``scores`` (chapter 2).

    Reference: Xu et al. (2015). Chapter 1.
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    check_tensor(scores, "scores")
    values = _check_values(scores, values)
    logits = masked_logits(scores, mask, name="scores")  # (B, m)
    index = logits.max(dim=-1).indices if mode == "argmax" else gumbel_argmax(logits, generator)  # (B)
    batch = index.shape
    if batch != values.shape[:-2]:  # broadcast only when needed: views cost per call too
        batch = torch.broadcast_shapes(batch, values.shape[:-2])
        index, values = index.expand(batch), values.expand(*batch, *values.shape[-2:])
    gather_index = index.view(*batch, 1, 1).expand(*batch, 1, values.shape[-1])
    return values.gather(-2, gather_index).squeeze(-2), index
