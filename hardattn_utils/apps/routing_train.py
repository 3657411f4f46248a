"""The routing task and routers trained on it (chapter 13), five seeds at once.

``RoutingTask`` draws tokens from clusters that each have their own linear map, so
experts can specialise and the best assignment is known (:func:`routing_purity`).

Three routers learn through gates (the dense mixture, top-1 and top-2 routing); any
label of :data:`~hardattn_utils.registry.ESTIMATORS` gives a router that samples one
expert per token and learns through that estimator instead (REINFORCE and RLOO
through the score function, straight-through Gumbel-Softmax through a relaxed sample).

Legend of the shape comments: ``S`` seeds, ``T`` tokens, ``d`` features, ``E`` experts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from .._checks import check_int, check_real
from ..leaderboard import loss_evaluations, per_input_problem
from ..registry import resolve
from ..seeds import SEEDS, SeedStack, split_seeds
from ..train import fit
from ..training_boards import training_board
from .routing import ExpertMixture, _balance_loss, _top_k_gates

__all__ = [
    "GATE_ROUTERS",
    "RoutingBatch",
    "RoutingTask",
    "expert_evaluations",
    "routing_board",
    "routing_purity",
    "train_routing_seeds",
]

#: label -> experts per token of the routers that learn through their gates (None: all).
GATE_ROUTERS: dict[str, int | None] = {"dense mixture": None, "top-1 router": 1, "top-2 router": 2}
#: estimators whose gradient needs ∂f/∂z for every expert (all E outputs).
_PATHWISE = {"ST Gumbel-Softmax", "Gumbel-Softmax", "ST softmax", "ReinMax", "Gumbel-Rao"}


@dataclass(frozen=True)
class RoutingBatch:
    """Tokens of the routing task: ``x`` (T, d), ``y`` (T, d) targets, ``cluster`` (T,) long."""

    x: Tensor
    y: Tensor
    cluster: Tensor


class RoutingTask:
    """Tokens from C clusters, each cluster with its own linear map: experts can specialise.

    .. math:: x = (c_j + \\sigma\\,\\varepsilon) / s,\\quad y = M_j x,\\quad j \\sim U\\{1..C\\}

    The best assignment sends cluster j to one expert of its own, which then fits M_j
    exactly; with fewer experts than clusters no linear expert can. The scale s makes
    x and y about unit variance per feature. Chapter 13.

    Args:
        num_clusters: C ≥ 2. dim: d. spread: distance scale of the centres.
        noise: σ. seed: draws the centres and the maps.
    """

    def __init__(
        self, num_clusters: int = 8, dim: int = 16, *, spread: float = 3.0, noise: float = 1.0, seed: int = 0
    ) -> None:
        self.num_clusters = check_int(num_clusters, "num_clusters", minimum=2)
        self.dim = check_int(dim, "dim", minimum=1)
        self.noise = check_real(noise, "noise", minimum=0.0)
        gen = torch.Generator().manual_seed(check_int(seed, "seed"))
        self.centres = check_real(spread, "spread", minimum=0.0) * torch.randn(
            self.num_clusters, dim, generator=gen
        )
        self.scale = math.sqrt(spread**2 + self.noise**2)  # makes Var x ≈ Var y ≈ 1 per feature
        self.maps = torch.randn(self.num_clusters, dim, dim, generator=gen) / math.sqrt(dim)  # (C, d, d)

    def sample(self, num_tokens: int, generator: torch.Generator | None = None) -> RoutingBatch:
        """``num_tokens`` tokens; the same generator state gives the same batch."""
        num_tokens = check_int(num_tokens, "num_tokens", minimum=1)
        cluster = torch.randint(self.num_clusters, (num_tokens,), generator=generator)
        noise = self.noise * torch.randn(num_tokens, self.dim, generator=generator)
        x = (self.centres[cluster] + noise) / self.scale  # (T, d)
        y = torch.einsum("toi,ti->to", self.maps[cluster], x)
        return RoutingBatch(x, y, cluster)


def routing_purity(route: Tensor, cluster: Tensor, num_clusters: int) -> tuple[Tensor, Tensor]:
    """How cleanly a router sends each cluster to an expert of its own.

    .. math:: \\text{purity} = \\frac1C \\sum_j \\max_i \\Pr[\\text{route} = i \\mid j]

    Args:
        route: (..., T) long, each token's (first) expert. cluster: (T,) long.
        num_clusters: C.

    Returns:
        ``(purity, distinct)`` (...): mean over clusters of the share of a cluster's
        tokens at its majority expert, and the number of distinct majority experts
        (C when every cluster has an expert of its own). Chapter 13.
    """
    num_clusters = check_int(num_clusters, "num_clusters", minimum=1)
    num_experts = int(route.max()) + 1
    onehot = nn.functional.one_hot(route, num_experts).to(torch.float32)  # (..., T, E)
    member = nn.functional.one_hot(cluster, num_clusters).to(torch.float32)  # (T, C)
    counts = torch.einsum("...te,tc->...ce", onehot, member)  # (..., C, E)
    share, majority = (counts / counts.sum(-1, keepdim=True).clamp(min=1)).max(-1)  # (..., C)
    used = nn.functional.one_hot(majority, num_experts).amax(-2).sum(-1)  # (...)
    return share.mean(-1), used


def expert_evaluations(method: str, num_experts: int, **hyper: Any) -> float:
    """Expert evaluations per token in one training step of a router.

    The dense mixture runs all E experts, top-k routing k. A score-function router
    runs the experts it samples (counted by :func:`hardattn_utils.loss_evaluations`);
    a straight-through or relaxed router needs every expert's output for its gradient.

    Args:
        method: a key of :data:`GATE_ROUTERS` or a label of ``ESTIMATORS``.
        num_experts: E. **hyper: the estimator's hyper-parameters.

    Chapter 13.
    """
    num_experts = check_int(num_experts, "num_experts", minimum=1)
    if method in GATE_ROUTERS:
        k = GATE_ROUTERS[method]
        return float(num_experts if k is None else min(k, num_experts))
    if method in _PATHWISE:
        return float(num_experts)
    label, est = resolve(method)
    probe = per_input_problem(8, num_experts, generator=torch.Generator().manual_seed(0))
    return loss_evaluations(label, *probe) if not hyper else _counted(est, probe, hyper)


def _counted(est: Any, probe: tuple[Tensor, Any], hyper: dict[str, Any]) -> float:
    logits, f = probe
    count = [0]

    def counted(z: Tensor) -> Tensor:
        out = f(z)
        count[0] += out.numel()
        return out

    est(logits.clone().requires_grad_(True), counted, **hyper)
    return count[0] / logits.shape[0]


def train_routing_seeds(
    task: RoutingTask,
    method: str,
    test_batch: RoutingBatch,
    *,
    num_experts: int,
    num_steps: int,
    seeds: Sequence[int] = SEEDS,
    alpha: float = 0.01,
    batch_size: int = 128,
    lr: float = 0.02,
    eval_every: int = 25,
    label: str | None = None,
    **hyper: Any,
) -> tuple[SeedStack, pd.DataFrame]:
    """Train one :class:`ExpertMixture` per seed, all in one vectorised run.

    .. math:: \\mathcal L = \\tfrac1T \\sum_t \\tfrac1d \\|y_t - \\hat y_t\\|^2
       + \\alpha E \\textstyle\\sum_i f_i P_i

    Copy ``s`` starts from ``torch.manual_seed(seeds[s])``; all copies see the same
    batches (generator 100). The balancing term is added for every hard router
    (not the dense mixture); ``alpha=0`` trains without it.

    Args:
        task, test_batch: the task and its held-out tokens.
        method: a key of :data:`GATE_ROUTERS` or a label of ``ESTIMATORS``.
        num_experts: E. num_steps: updates. seeds: one model per seed.
        alpha: balancing weight. batch_size: tokens per step. lr: Adam's step size.
        eval_every: evaluation interval. label: the ``label`` column (default ``method``).
        **hyper: the estimator's hyper-parameters.

    Returns:
        ``(stack, log)``, the log tidy with a ``seed`` column; metrics ``explained``
        (1 − test MSE / Var y), ``purity``, ``distinct`` (see
        :func:`routing_purity`), ``load entropy`` (of the experts' share of test
        tokens, in units of log E), ``max load`` and ``train_loss``. Chapter 13.
    """
    num_experts = check_int(num_experts, "num_experts", minimum=2)
    alpha = check_real(alpha, "alpha", minimum=0.0)
    if method not in GATE_ROUTERS:
        _, est = resolve(method)
    stack = SeedStack(lambda: ExpertMixture(task.dim, task.dim, num_experts), seeds)
    data = torch.Generator().manual_seed(100)

    def objective(model: SeedStack, batch: RoutingBatch, step: int) -> tuple[Tensor, dict[str, float]]:
        logits, outs = _forward(model, batch.x)  # (S, T, E), (S, T, E, d)
        if method in GATE_ROUTERS:
            weights, indices = _gate_weights(logits, GATE_ROUTERS[method])
            loss = (torch.einsum("ste,steo->sto", weights, outs) - batch.y).pow(2).mean((-1, -2))  # (S,)
            surrogate = loss.sum()
        else:
            estimate = est(logits, _sample_loss(outs, batch.y), **hyper)
            z = estimate.z.reshape(-1, *logits.shape)[0]  # (S, T, E), the first sample
            indices, surrogate = z.argmax(-1, keepdim=True), estimate.surrogate * len(model)
            loss = estimate.loss.reshape(-1, *logits.shape[:2]).mean((0, 2))  # (S,)
        if alpha > 0 and GATE_ROUTERS.get(method, 1) is not None:
            surrogate = surrogate + _balance_loss(logits, indices, alpha).sum()
        return surrogate, {f"loss[{i}]": v for i, v in enumerate(loss.tolist())}

    log = fit(
        stack, objective, lambda step: task.sample(batch_size, generator=data), num_steps, lr=lr,
        evaluate=lambda m: _evaluate(m, method, test_batch, task.num_clusters),
        eval_every=eval_every, label=label if label is not None else method,
    )  # fmt: skip
    return stack, split_seeds(log, list(seeds))


def _forward(stack: SeedStack, x: Tensor) -> tuple[Tensor, Tensor]:
    """Router logits (S, T, E) and every expert's output (S, T, E, d) of every copy."""
    return stack.apply(lambda net, tokens: (net.router(tokens), net.experts(tokens)), x)


def _gate_weights(logits: Tensor, k: int | None) -> tuple[Tensor, Tensor]:
    """Each expert's weight (S, T, E) and the chosen experts (S, T, k) of a gate router."""
    if k is None:
        probs = torch.softmax(logits, -1)
        return probs, probs.argmax(-1, keepdim=True)
    indices, gates = _top_k_gates(logits, k)
    return torch.zeros_like(logits).scatter_add(-1, indices, gates), indices


def _sample_loss(outs: Tensor, target: Tensor) -> Any:
    """``z`` (..., S, T, E) -> squared error (..., S, T) of the sampled experts' output."""

    def loss(z: Tensor) -> Tensor:
        return (torch.einsum("...ste,steo->...sto", z, outs) - target).pow(2).mean(-1)

    return loss


@torch.no_grad()
def _evaluate(stack: SeedStack, method: str, batch: RoutingBatch, num_clusters: int) -> dict[str, float]:
    logits, outs = _forward(stack, batch.x)  # (S, T, E), (S, T, E, d)
    if method in GATE_ROUTERS:
        weights, _ = _gate_weights(logits, GATE_ROUTERS[method])
    else:  # a sampling router reads its most probable expert at test time
        weights = torch.nn.functional.one_hot(logits.argmax(-1), logits.shape[-1]).to(logits.dtype)
    mse = (torch.einsum("ste,steo->sto", weights, outs) - batch.y).pow(2).mean((-1, -2))  # (S,)
    route = logits.argmax(-1)  # (S, T)
    purity, distinct = routing_purity(route, batch.cluster, num_clusters)
    load = torch.nn.functional.one_hot(route, logits.shape[-1]).to(torch.float32).mean(-2)  # (S, E)
    entropy = -(load * load.clamp(min=1e-12).log()).sum(-1) / math.log(logits.shape[-1])
    metrics = {"explained": 1 - mse / batch.y.var(), "purity": purity, "distinct": distinct.float(),
               "load entropy": entropy, "max load": load.amax(-1)}  # fmt: skip
    return {f"{name}[{i}]": v for name, values in metrics.items() for i, v in enumerate(values.tolist())}


def routing_board(
    *,
    num_experts: int = 8,
    num_steps: int = 150,
    seeds: Sequence[int] = SEEDS,
    methods: Sequence[str] = ("dense mixture", "top-1 router", "top-2 router", "RLOO", "ST Gumbel-Softmax"),
    metric: str = "explained",
    level: float = 0.9,
) -> pd.DataFrame:
    """The routing task trained with each router from every seed, on the board's columns.

    Cost is expert evaluations per token and step (:func:`expert_evaluations`); RLOO
    draws 2 samples. Columns as :func:`hardattn_utils.training_board`.

    Args:
        num_experts: E (the task has 8 clusters). num_steps: updates per run.
        seeds: the seeds. methods: routers. metric, level: the board's quality and threshold.

    Chapter 13 (and the leaderboard of chapter 14).
    """
    task = RoutingTask()
    test = task.sample(2048, torch.Generator().manual_seed(1))
    hyper = {m: ({"num_samples": 2} if m == "RLOO" else {}) for m in methods}
    costs = {m: expert_evaluations(m, num_experts, **hyper[m]) for m in methods}

    def train(method: str) -> pd.DataFrame:
        return train_routing_seeds(
            task, method, test, num_experts=num_experts, num_steps=num_steps, seeds=seeds, **hyper[method]
        )[1]

    return training_board(train, costs, metric=metric, level=level, num_seeds=len(seeds))
