"""Expert routing (chapter 13): a small mixture-of-experts layer, its gates, capacity,
balancing loss and FLOP count.

Routing is hard attention over experts: a linear router scores the E experts of a
token, the token goes to its top-k, and the layer returns the chosen experts'
outputs weighted by their gates (Shazeer et al., 2017; Fedus et al., 2022). The
router learns through the gate values of the chosen experts, not through the choice.

Legend of the shape comments: ``S`` seeds (any leading shape), ``T`` tokens,
``d`` features, ``E`` experts, ``k`` experts kept per token.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .._checks import check_int, check_logits, check_real, check_tensor

__all__ = [
    "ExpertMixture",
    "Routed",
    "balance_loss",
    "expert_capacity",
    "routing_flops",
    "top_k_gates",
    "within_capacity",
]


def top_k_gates(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The k chosen experts of every token and their gates.

    .. math:: k = 1:\\ g = p_i(x),\\ i = \\arg\\max_j p_j(x);\\qquad
       k \\ge 2:\\ g_i = \\frac{e^{\\ell_i}}{\\sum_{j \\in \\text{top-}k} e^{\\ell_j}}

    With k = 1 the gate is the router's softmax probability of the chosen expert
    (Switch); with k ≥ 2 the softmax is taken over the kept logits only, so the k
    gates sum to 1 (Shazeer et al.'s ``Softmax(KeepTopK(·))``).

    Args:
        logits: (..., E) router scores; ``-inf`` rules an expert out.
        k: experts per token, 1 ≤ k ≤ E.

    Returns:
        ``(indices, gates)``, both (..., k), best expert first. Chapter 13.
    """
    logits = check_logits(logits)
    k = check_int(k, "k", minimum=1, maximum=logits.shape[-1])
    return _top_k_gates(logits, k)


def _top_k_gates(logits: Tensor, k: int) -> tuple[Tensor, Tensor]:
    top, indices = torch.topk(logits, k, dim=-1)  # (..., k)
    if k == 1:
        return indices, torch.softmax(logits, -1).gather(-1, indices)
    return indices, torch.softmax(top, -1)


def expert_capacity(num_tokens: int, num_experts: int, capacity_factor: float, k: int = 1) -> int:
    """Tokens one expert may process per batch.

    .. math:: C = \\Big\\lceil \\frac{k\\,T}{E} \\cdot \\text{capacity factor} \\Big\\rceil

    Args:
        num_tokens: T tokens in the batch. num_experts: E.
        capacity_factor: > 0; 1 is exactly the uniform share.
        k: experts per token (each token occupies k slots).

    Reference: Fedus et al. (2022). Chapter 13.
    """
    num_tokens = check_int(num_tokens, "num_tokens", minimum=1)
    num_experts = check_int(num_experts, "num_experts", minimum=1)
    capacity_factor = check_real(capacity_factor, "capacity_factor", minimum=0.0, open_min=True)
    k = check_int(k, "k", minimum=1, maximum=num_experts)
    return math.ceil(k * num_tokens / num_experts * capacity_factor)


def within_capacity(indices: Tensor, num_experts: int, capacity: int) -> Tensor:
    """Which (token, choice) slots an expert of ``capacity`` accepts; the rest are dropped.

    Slots are served first choices before second choices, and in token order within a
    choice, as in Switch's implementation; a dropped slot contributes nothing.

    .. math:: \\text{kept}_{t,c} = [\\#\\{\\text{earlier slots sent to } i_{t,c}\\} < C]

    Args:
        indices: (..., T, k) long, the chosen experts.
        num_experts: E. capacity: C ≥ 1.

    Returns:
        (..., T, k) bool. Chapter 13.
    """
    if not isinstance(indices, Tensor) or indices.dtype != torch.long or indices.dim() < 2:
        raise TypeError("indices must be a long tensor of shape (..., T, k)")
    num_experts = check_int(num_experts, "num_experts", minimum=1)
    capacity = check_int(capacity, "capacity", minimum=1)
    if indices.numel() and (indices.min() < 0 or indices.max() >= num_experts):
        raise ValueError(f"indices must lie in [0, {num_experts - 1}]")
    return _within_capacity(indices, num_experts, capacity)


def _within_capacity(indices: Tensor, num_experts: int, capacity: int) -> Tensor:
    slots = indices.transpose(-1, -2).flatten(-2)  # (..., k*T), choice-major
    onehot = nn.functional.one_hot(slots, num_experts)  # (..., k*T, E)
    position = (onehot.cumsum(-2) * onehot).sum(-1)  # (..., k*T), 1-based
    kept = position <= capacity
    return kept.unflatten(-1, (indices.shape[-1], indices.shape[-2])).transpose(-1, -2)


def balance_loss(logits: Tensor, indices: Tensor, alpha: float = 0.01) -> Tensor:
    """The Switch load-balancing loss of one batch of tokens.

    .. math:: \\mathcal L = \\alpha\\, E \\sum_{i=1}^{E} f_i P_i,\\quad
       f_i = \\text{share of slots sent to } i,\\quad P_i = \\tfrac1T \\sum_t p_i(x_t)

    It equals α at a uniform load (f = P = 1/E) and αE when one expert takes every
    token with probability 1. Only P carries a gradient.

    Args:
        logits: (..., T, E). indices: (..., T, k) the chosen experts.
        alpha: weight ≥ 0.

    Returns:
        (...) the loss per leading index. Reference: Fedus et al. (2022). Chapter 13.
    """
    logits = check_logits(logits)
    alpha = check_real(alpha, "alpha", minimum=0.0)
    if indices.shape[:-1] != logits.shape[:-1]:
        raise ValueError(f"indices {tuple(indices.shape)} must match logits {tuple(logits.shape)}")
    return _balance_loss(logits, indices, alpha)


def _balance_loss(logits: Tensor, indices: Tensor, alpha: float) -> Tensor:
    num_experts = logits.shape[-1]
    counts = nn.functional.one_hot(indices, num_experts).flatten(-3, -2).sum(-2)  # (..., E)
    share = counts.to(logits.dtype) / indices.shape[-1] / indices.shape[-2]  # f (..., E)
    mean_probs = torch.softmax(logits, -1).mean(-2)  # P (..., E)
    return alpha * num_experts * (share * mean_probs).sum(-1)


def routing_flops(dim_in: int, dim_out: int, num_experts: int, k: int | None) -> int:
    """Matrix-multiply FLOPs per token of the router and the experts it runs.

    .. math:: 2\\,d_{in} E + 2\\,n\\,d_{in} d_{out},\\qquad n = k \\text{ (routed)}
       \\text{ or } E \\text{ (dense mixture)}

    Counts what ``torch.utils.flop_counter`` counts (a multiply-add is 2 FLOPs; bias
    adds, softmax and the weighted sum are left out).

    Args:
        dim_in, dim_out: expert input and output features. num_experts: E.
        k: experts run per token, or ``None`` for the dense mixture (all E).

    Chapter 13.
    """
    dim_in, dim_out = check_int(dim_in, "dim_in", minimum=1), check_int(dim_out, "dim_out", minimum=1)
    num_experts = check_int(num_experts, "num_experts", minimum=1)
    active = num_experts if k is None else check_int(k, "k", minimum=1, maximum=num_experts)
    return 2 * dim_in * num_experts + 2 * active * dim_in * dim_out


class Routed(NamedTuple):
    """What :class:`ExpertMixture` returns.

    Attributes:
        output: (..., T, d_out). logits: (..., T, E) router scores.
        weights: (..., T, E) each expert's weight in the output (zero if not run).
        indices: (..., T, k) chosen experts (all E for the dense mixture).
        kept: (..., T, k) bool, False where capacity dropped the slot.
    """

    output: Tensor
    logits: Tensor
    weights: Tensor
    indices: Tensor
    kept: Tensor


class ExpertMixture(nn.Module):
    """E linear experts and a linear router: the dense mixture or top-k routing.

    .. math:: y = \\sum_{i \\in \\text{chosen}} g_i(x)\\,(A_i x + b_i)

    ``forward`` computes every expert and weights them (identical numbers, cheap at the
    book's sizes, and it vectorises over seeds); :meth:`dispatch` runs each expert on
    its own tokens only, which is what the FLOP count and the timings measure.

    Args:
        dim_in, dim_out: features. num_experts: E ≥ 1.

    Reference: Shazeer et al. (2017); Fedus et al. (2022). Chapter 13.
    """

    def __init__(self, dim_in: int, dim_out: int, num_experts: int) -> None:
        super().__init__()
        dim_in, dim_out = check_int(dim_in, "dim_in", minimum=1), check_int(dim_out, "dim_out", minimum=1)
        self.num_experts = check_int(num_experts, "num_experts", minimum=1)
        self.router = nn.Linear(dim_in, num_experts)
        nn.init.normal_(self.router.weight, std=0.01)
        nn.init.zeros_(self.router.bias)
        self.weight = nn.Parameter(torch.randn(num_experts, dim_out, dim_in) / math.sqrt(dim_in))
        self.bias = nn.Parameter(torch.zeros(num_experts, dim_out))

    def experts(self, x: Tensor) -> Tensor:
        """(..., T, d_in) -> (..., T, E, d_out): every expert's output."""
        return torch.einsum("eoi,...ti->...teo", self.weight, x) + self.bias

    def forward(self, x: Tensor, k: int | None = 1, capacity_factor: float | None = None) -> Routed:
        """Route ``x`` (..., T, d_in) to its top-``k`` experts (``None``: dense mixture)."""
        x = self._check(x)
        logits = self.router(x)  # (..., T, E)
        indices, gates, kept = self.route(logits, k, capacity_factor)
        weights = torch.zeros_like(logits).scatter_add(-1, indices, gates * kept)  # (..., T, E)
        output = torch.einsum("...te,...teo->...to", weights, self.experts(x))
        return Routed(output, logits, weights, indices, kept)

    def route(
        self, logits: Tensor, k: int | None, capacity_factor: float | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``(indices, gates, kept)`` (..., T, k) of router ``logits`` (..., T, E)."""
        if k is None:
            probs = torch.softmax(logits, -1)
            return (
                torch.arange(self.num_experts).expand_as(probs),
                probs,
                torch.ones_like(probs, dtype=torch.bool),
            )
        k = check_int(k, "k", minimum=1, maximum=self.num_experts)
        indices, gates = _top_k_gates(logits, k)
        if capacity_factor is None:
            return indices, gates, torch.ones_like(indices, dtype=torch.bool)
        capacity = expert_capacity(logits.shape[-2], self.num_experts, capacity_factor, k)
        return indices, gates, _within_capacity(indices, self.num_experts, capacity)

    @torch.no_grad()
    def dispatch(self, x: Tensor, k: int = 1) -> Tensor:
        """(T, d_in) -> (T, d_out): each expert runs on the tokens sent to it, only."""
        logits = self.router(self._check(x))  # (T, E)
        indices, gates = _top_k_gates(logits, check_int(k, "k", minimum=1, maximum=self.num_experts))
        tokens = torch.arange(x.shape[0]).repeat_interleave(k)  # (T*k,)
        experts, gates = indices.flatten(), gates.flatten()
        output = x.new_zeros(x.shape[0], self.weight.shape[1])
        for expert in range(self.num_experts):
            slots = (experts == expert).nonzero().squeeze(-1)
            rows = tokens[slots]
            out = nn.functional.linear(x[rows], self.weight[expert], self.bias[expert])
            output.index_add_(0, rows, out * gates[slots, None])
        return output

    def _check(self, x: Tensor) -> Tensor:
        x = check_tensor(x, "x")
        if x.dim() < 2 or x.shape[-1] != self.weight.shape[-1]:
            raise ValueError(f"x must have shape (..., T, {self.weight.shape[-1]}), got {tuple(x.shape)}")
        return x
