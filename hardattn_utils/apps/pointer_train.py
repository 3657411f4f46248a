"""Training a pointer network: teacher forcing, and REINFORCE with or without a target.

Chapter 8 (``08_pointer_networks``) trains :class:`~.pointer.PointerNet` on the sorting
task three ways: teacher forcing, REINFORCE with a self-critical baseline on a loss
against the target, and the same on :func:`out_of_order`, a loss that needs no target.
Shapes: B batch, n input positions (= output steps), h hidden features.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Literal

import pandas as pd
import torch
from torch import Tensor

from ..seeds import SEEDS, over_seeds
from ..train import fit
from .pointer import PointerNet, SortingBatch, SortingTask, pointer_accuracy

__all__ = [
    "out_of_order",
    "self_critical_objective",
    "teacher_forcing_objective",
    "train_pointer_seeds",
]


def teacher_forcing_objective(model: PointerNet, batch: SortingBatch, step: int = 0) -> Tensor:
    """Cross-entropy of the target pointer at every step, with teacher forcing.

    .. math:: L = -\\frac1n \\sum_t \\log p(\\pi^*_t \\mid \\pi^*_{<t}, x)

    An objective for :func:`hardattn_utils.fit`. Chapter 8.
    """
    return -model.teacher_forced(batch).log_p.mean()


def _position_errors(index: Tensor, target: Tensor) -> Tensor:
    """(B,) fraction of output steps whose pointer differs from the target."""
    return (index != target).float().mean(1)


def self_critical_objective(
    generator: torch.Generator | None = None,
    loss: Literal["positions", "order"] = "positions",
) -> Callable[[PointerNet, SortingBatch, int], tuple[Tensor, dict[str, Tensor]]]:
    """REINFORCE over whole sampled permutations with the greedy decoding as baseline.

    The loss of a permutation is the fraction of wrongly placed positions
    (``loss="positions"``, which needs the target) or the fraction of adjacent output
    pairs out of order (``loss="order"``, :func:`out_of_order`, which needs none). The
    baseline is the loss of the model's own greedy (argmax) decoding of the same
    input, which does not depend on the sample, so the estimator stays unbiased.

    .. math:: \\hat g = \\big(L(\\pi^s) - L(\\hat\\pi)\\big)
       \\nabla \\sum_t \\log p(\\pi^s_t \\mid \\pi^s_{<t})

    Args:
        generator: source of randomness for the sampled permutations.
        loss: ``"positions"`` (against the target) or ``"order"`` (no target).

    Returns:
        An objective ``(model, batch, step) -> (surrogate, metrics)`` for :func:`hardattn_utils.fit`.

    Reference: Williams (1992); Rennie et al. (2017). Chapter 8.
    """

    if loss not in ("positions", "order"):
        raise ValueError(f"loss must be 'positions' or 'order', got {loss!r}")

    def score(batch: SortingBatch, index: Tensor) -> Tensor:
        if loss == "order":
            return out_of_order(batch.inputs, index)
        return _position_errors(index, batch.target)

    def objective(model: PointerNet, batch: SortingBatch, step: int) -> tuple[Tensor, dict[str, Tensor]]:
        sampled = model.decode(batch.inputs, mode="sample", generator=generator)
        with torch.no_grad():
            greedy = model.decode(batch.inputs, mode="argmax").index
        sampled_loss, baseline = score(batch, sampled.index), score(batch, greedy)  # (B,)
        surrogate = ((sampled_loss - baseline) * sampled.log_p.sum(1)).mean()
        return surrogate, {"loss": sampled_loss.mean(), "greedy_loss": baseline.mean()}

    return objective


def out_of_order(inputs: Tensor, index: Tensor) -> Tensor:
    r"""Fraction of adjacent output pairs in descending order: a loss that needs no target.

    .. math:: L(\pi) = \frac{1}{n-1} \sum_{t=1}^{n-1} [x_{\pi_{t+1}} < x_{\pi_t}]

    It is 0 exactly for the sorted permutation (distinct inputs), so it can train a
    sorter by REINFORCE without ever seeing the sorted order, as a tour length trains
    a travelling-salesman pointer network (Bello et al., 2016; Kool et al., 2019).

    Args:
        inputs: (B, n) numbers.
        index: (B, n) long, a permutation of the positions per row.

    Returns:
        (B,) the loss of each row. Chapter 8.
    """
    if index.shape != inputs.shape:
        raise ValueError(f"index shape {tuple(index.shape)} differs from inputs shape {tuple(inputs.shape)}")
    values = inputs.gather(1, index)  # (B, n) the inputs in output order
    return (values[:, 1:] < values[:, :-1]).float().mean(1)


METHODS = ("teacher forcing", "REINFORCE + self-critical", "REINFORCE, no target")


def train_pointer_seeds(
    task: SortingTask,
    method: Literal["teacher forcing", "REINFORCE + self-critical", "REINFORCE, no target"],
    tests: Mapping[int, SortingBatch],
    *,
    num_steps: int,
    seeds: Sequence[int] = SEEDS,
    hidden: int = 32,
    batch_size: int = 64,
    lr: float = 3e-3,
    eval_every: int = 40,
) -> tuple[dict[int, PointerNet], pd.DataFrame]:
    """Train one digit-input :class:`PointerNet` per seed, one after the other.

    Seed ``s`` fixes the initial weights (``torch.manual_seed(s)``, so both methods
    start from the same weights), the training batches (a generator seeded with
    ``1000 + s``) and, for REINFORCE, the sampled permutations (``2000 + s``).

    Args:
        task: the training task.
        method: :func:`teacher_forcing_objective`, or :func:`self_critical_objective`
            with the target loss (``"REINFORCE + self-critical"``) or with
            :func:`out_of_order` (``"REINFORCE, no target"``).
        tests: test batches by length n; greedy accuracy is logged on each.
        num_steps, batch_size, lr, eval_every: as in :func:`hardattn_utils.fit`.
        seeds: one network per seed (at least 5 for a claim).
        hidden: the network's width.

    Returns:
        ``(nets, log)``: the trained network per seed and a tidy log (``label`` =
        ``method``, a ``seed`` column, metrics ``exact (n=N)``, ``per_position (n=N)``,
        ``train_loss``). Chapter 8.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    nets: dict[int, PointerNet] = {}

    def evaluate(net: PointerNet) -> dict[str, float]:
        return {f"{k} (n={n})": v for n, b in tests.items() for k, v in pointer_accuracy(net, b).items()}

    def run(seed: int) -> pd.DataFrame:
        torch.manual_seed(seed)
        net = nets[seed] = PointerNet(hidden=hidden, digits=True)
        data = torch.Generator().manual_seed(1000 + seed)
        noise = torch.Generator().manual_seed(2000 + seed)
        objective = (
            teacher_forcing_objective
            if method == "teacher forcing"
            else self_critical_objective(noise, "order" if method == METHODS[2] else "positions")
        )
        return fit(
            net,
            objective,
            lambda step: task.sample(batch_size, data),
            num_steps,
            lr=lr,
            evaluate=evaluate,
            eval_every=eval_every,
            label=method,
        )

    return nets, over_seeds(run, seeds)
