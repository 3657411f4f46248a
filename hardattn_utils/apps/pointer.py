"""Pointer networks: a sorting task and a small pointer network that decodes by pointing.

Chapter 8 (``08_pointer_networks``) decodes it greedily and by beam search; the
objectives and the training loop are in :mod:`.pointer_train`. Shapes: B batch, n input positions
(= output steps), h hidden features.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_int, masked_logits
from ..attention import hard_attention

__all__ = [
    "Decoding",
    "PointerNet",
    "SortingBatch",
    "SortingTask",
    "beam_search",
    "pointer_accuracy",
]


@dataclass(frozen=True)
class SortingBatch:
    """One batch of the sorting task.

    Attributes:
        inputs: (B, n) numbers drawn uniformly from [0, 1).
        target: (B, n) long; ``target[b, t]`` is the position of the t-th smallest input,
            so ``inputs.gather(1, target)`` is sorted ascending.
    """

    inputs: Tensor
    target: Tensor


@dataclass(frozen=True)
class SortingTask:
    """Output the positions of ``length`` numbers in ascending order of value.

    Attributes:
        length: n, the number of inputs.
        num_values: ``None`` draws the inputs uniformly from [0, 1); an int draws
            ``length`` distinct integers from ``0 .. num_values - 1`` (at most 100).

    Reference: Vinyals, Bengio & Kudlur (2016), "Order Matters", who sort numbers
    with a pointer network (Vinyals, Fortunato & Jaitly (2015) introduced pointer
    networks for convex hulls, Delaunay triangulations and travelling-salesman tours).
    Chapter 8.
    """

    length: int = 10
    num_values: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.length, bool) or not isinstance(self.length, int) or self.length < 2:
            raise ValueError(f"length must be an int >= 2, got {self.length!r}")
        if self.num_values is not None and not self.length <= self.num_values <= 100:
            raise ValueError(f"num_values must be None or in [length, 100], got {self.num_values!r}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> SortingBatch:
        """Draw a batch; the same generator state gives the same batch."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        if self.num_values is None:
            inputs = torch.rand(batch_size, self.length, generator=generator)
        else:  # distinct integers: no ties, so the sorted order is unique
            draws = torch.rand(batch_size, self.num_values, generator=generator)
            inputs = draws.argsort(dim=1)[:, : self.length].float()
        return SortingBatch(inputs, inputs.argsort(dim=1))


class Decoding(NamedTuple):
    """What :meth:`PointerNet.decode` returns.

    Attributes:
        index: (B, n) long, the position pointed at each step (a permutation).
        log_p: (B, n) log-probability of each pointer under the model (differentiable).
        weights: (B, n, n) pointer distribution per step (rows) over positions (columns).
    """

    index: Tensor
    log_p: Tensor
    weights: Tensor


class PointerNet(nn.Module):
    """Set encoder + LSTM decoder that points at input positions with additive attention.

    .. math:: u^t_j = v^\\top \\tanh(W_1 e_j + W_2 d_t),\\quad
       p(\\pi_t = j \\mid \\pi_{<t}) = \\mathrm{softmax}_j(u^t_j)\\ \\text{over unpointed } j

    The encoder embeds each number and mixes the set with ``num_layers`` Transformer
    layers (no positional encoding: the order of the inputs carries no information);
    the decoder is fed the encoding of the position it pointed at last. Positions
    already pointed at are masked, so every decoding is a permutation.

    Reference: Vinyals, Fortunato & Jaitly (2015). Chapter 8.
    """

    def __init__(
        self, hidden: int = 64, num_layers: int = 1, num_heads: int = 4, digits: bool = False
    ) -> None:
        super().__init__()
        if hidden < 1 or hidden % num_heads:
            raise ValueError(f"hidden must be a positive multiple of num_heads={num_heads}, got {hidden}")
        self.digits = digits
        self.embed = nn.Linear(20 if digits else 1, hidden)
        layer = nn.TransformerEncoderLayer(hidden, num_heads, 2 * hidden, dropout=0.0, batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=False)
        self.cell = nn.LSTMCell(hidden, hidden)
        self.start = nn.Parameter(torch.zeros(hidden))
        self.w_enc = nn.Linear(hidden, hidden, bias=False)
        self.w_dec = nn.Linear(hidden, hidden)
        self.v = nn.Linear(hidden, 1, bias=False)

    def encode(self, inputs: Tensor) -> Tensor:
        """(B, n) numbers -> (B, n, h) encodings."""
        if not isinstance(inputs, Tensor) or inputs.dim() != 2 or not inputs.is_floating_point():
            got = tuple(inputs.shape) if isinstance(inputs, Tensor) else type(inputs).__name__
            raise ValueError(f"inputs must be a float tensor of shape (B, n), got {got}")
        return self.encoder(self.embed(self._features(inputs)))

    def _features(self, inputs: Tensor) -> Tensor:
        """(B, n, 1) the number itself, or (B, n, 20) one-hot tens and units digits."""
        if not self.digits:
            return inputs.unsqueeze(-1)
        if ((inputs != inputs.round()) | (inputs < 0) | (inputs > 99)).any():
            raise ValueError("inputs must be integers in [0, 99] for a PointerNet with digits=True")
        value = inputs.long()
        return torch.cat([F.one_hot(value // 10, 10), F.one_hot(value % 10, 10)], -1).float()

    def _unroll(self, inputs: Tensor, choose: Callable[..., Tensor], mask_pointed: bool) -> Decoding:
        """Decode for n steps; ``choose(t, scores, mask, enc) -> (B,)`` picks each pointer."""
        enc = self.encode(inputs)  # (B, n, h)
        batch, n, _ = enc.shape
        keys = self.w_enc(enc)  # (B, n, h)
        mask = torch.ones(batch, n, dtype=torch.bool, device=enc.device)
        state = (enc.mean(1), torch.zeros_like(enc[:, 0]))
        step_input = self.start.expand(batch, -1)
        indices, log_ps, weights = [], [], []
        for t in range(n):
            state = self.cell(step_input, state)
            scores = self.v(torch.tanh(keys + self.w_dec(state[0]).unsqueeze(1))).squeeze(-1)
            log_p = torch.log_softmax(masked_logits(scores, mask), dim=-1)  # (B, n)
            index = choose(t, scores, mask, enc)
            indices.append(index)
            log_ps.append(log_p.gather(1, index[:, None]).squeeze(1))
            weights.append(log_p.exp())
            step_input = enc.gather(1, index[:, None, None].expand(-1, 1, enc.shape[-1])).squeeze(1)
            if mask_pointed:
                mask = mask.scatter(1, index[:, None], False)
        return Decoding(torch.stack(indices, 1), torch.stack(log_ps, 1), torch.stack(weights, 1))

    def teacher_forced(self, batch: SortingBatch, mask_pointed: bool = True) -> Decoding:
        """Decode feeding the target pointers (teacher forcing); ``log_p`` scores the target.

        Args:
            batch: inputs (B, n) and target pointers (B, n).
            mask_pointed: mask positions already pointed at, as in :meth:`decode`.
        """
        if batch.target.shape != batch.inputs.shape:
            raise ValueError(
                f"batch.target shape {tuple(batch.target.shape)} differs from "
                f"batch.inputs shape {tuple(batch.inputs.shape)}"
            )
        return self._unroll(batch.inputs, lambda t, scores, mask, enc: batch.target[:, t], mask_pointed)

    def decode(
        self,
        inputs: Tensor,
        mode: Literal["argmax", "sample"] = "argmax",
        generator: torch.Generator | None = None,
        mask_pointed: bool = True,
    ) -> Decoding:
        """Decode by hard pointing: greedy (``"argmax"``) or sampled (``"sample"``).

        Each step is :func:`hardattn_utils.hard_attention` over the unpointed positions.

        Args:
            inputs: (B, n) numbers.
            mode: ``"argmax"`` for greedy decoding, ``"sample"`` to draw a permutation.
            generator: source of randomness for ``mode="sample"``.
            mask_pointed: mask positions already pointed at (True: the output is a
                permutation); False shows what the scores alone would do.
        """

        def choose(t: int, scores: Tensor, mask: Tensor, enc: Tensor) -> Tensor:
            return hard_attention(scores.detach(), enc, mask, mode=mode, generator=generator)[1]

        return self._unroll(inputs, choose, mask_pointed)


@torch.no_grad()
def beam_search(model: PointerNet, inputs: Tensor, beam_width: int = 4) -> Tensor:
    r"""Decode by beam search: keep the ``beam_width`` most likely partial permutations.

    .. math:: \hat\pi = \operatorname*{argmax}_{\pi \in \text{beam}}
       \sum_t \log p(\pi_t \mid \pi_{<t}, x)

    ``beam_width=1`` is greedy decoding. Every step scores all K·n extensions of the K
    beams and keeps the K best (positions already pointed at are masked, so every
    beam is a permutation).

    Args:
        model: a :class:`PointerNet`.
        inputs: (B, n) numbers.
        beam_width: K, the number of beams (1 ≤ K ≤ n).

    Returns:
        (B, n) long: the most likely permutation found for each input.

    Reference: Vinyals, Fortunato & Jaitly (2015) decode with a beam search. Chapter 8.
    """
    beam_width = check_int(beam_width, "beam_width", minimum=1, maximum=inputs.shape[-1])
    enc = model.encode(inputs).repeat_interleave(beam_width, 0)  # (B*K, n, h)
    rows, n, _ = enc.shape
    batch, rows_k = rows // beam_width, torch.arange(rows)
    keys, mask = model.w_enc(enc), torch.ones(rows, n, dtype=torch.bool)  # (B*K, n, h)
    state = (enc.mean(1), torch.zeros_like(enc[:, 0]))
    step_input, history = model.start.expand(rows, -1), enc.new_zeros(rows, 0).long()
    score = enc.new_full((batch, beam_width), -torch.inf)
    score[:, 0] = 0.0  # one live beam at the start
    for _ in range(n):
        state = model.cell(step_input, state)
        u = model.v(torch.tanh(keys + model.w_dec(state[0]).unsqueeze(1))).squeeze(-1)
        log_p = torch.log_softmax(u.masked_fill(~mask, -torch.inf), -1)  # (B*K, n)
        total = (score.reshape(-1, 1) + log_p).reshape(batch, -1)  # (B, K*n)
        score, flat = total.topk(beam_width, dim=1)  # (B, K)
        offset = torch.arange(batch).unsqueeze(1) * beam_width
        parent, index = (flat // n + offset).reshape(-1), (flat % n).reshape(-1)
        state = (state[0][parent], state[1][parent])
        mask = mask[parent].scatter(1, index[:, None], False)
        history = torch.cat([history[parent], index[:, None]], 1)  # (B*K, t+1)
        step_input = enc[rows_k, index]
    best = score.argmax(1)  # (B,)
    return history.reshape(batch, beam_width, n)[torch.arange(batch), best]


@torch.no_grad()
def pointer_accuracy(model: PointerNet, batch: SortingBatch, beam_width: int = 1) -> dict[str, float]:
    """Decoding accuracy: whole sequences exactly right, and positions right.

    ``beam_width=1`` decodes greedily; a larger one uses :func:`beam_search`.

    Returns:
        ``{"exact": fraction of sequences sorted exactly, "per_position": fraction of steps right}``.
    """
    if beam_width == 1:
        index = model.decode(batch.inputs, mode="argmax").index
    else:
        index = beam_search(model, batch.inputs, beam_width)
    right = index == batch.target
    return {"exact": right.all(1).float().mean().item(), "per_position": right.float().mean().item()}
