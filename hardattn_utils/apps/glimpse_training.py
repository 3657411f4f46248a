"""Training and evaluating the glimpse models of chapter 11, five seeds at once.

Losses (REINFORCE with a learned baseline for the hard glimpse network, plain
cross-entropy for the soft and whole-image models), :func:`train_seeds` (seed
copies trained together with :class:`hardattn_utils.SeedStack`), accuracy per
seed, and the measured time per image.

Shapes: B images, H = W canvas side, T glimpses, C classes, S seed copies.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..seeds import SEEDS, SeedStack
from ..train import Objective, progress_bar
from .canvases import Canvases, _int_at_least
from .glimpses import GlimpseNet, SoftGlimpseNet

__all__ = [
    "glimpse_accuracy",
    "glimpse_loss",
    "glimpse_objective",
    "seconds_per_image",
    "seed_accuracy",
    "train_seeds",
    "whole_image_loss",
]


def glimpse_loss(
    model: GlimpseNet,
    images: Tensor,
    labels: Tensor,
    *,
    policy: str = "sample",
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """The training loss of a :class:`GlimpseNet` on (B, H, W) ``images``, and its (T, B, C) logits.

    .. math:: \\mathcal L = \\frac1T\\sum_t \\mathrm{CE}_t
       + \\sum_t \\big(\\mathrm{sg}(R_t) - \\mathrm{sg}(b_t)\\big)\\log \\pi(c_t)
       + \\sum_t (b_t - \\mathrm{sg}(R_t))^2,\\quad R_t = \\frac{1}{T-t+1}\\sum_{u \\ge t} \\mathrm{CE}_u

    The location policy gets REINFORCE (chapter 3): the loss of choice ``c_t`` is
    the mean classification loss from glimpse t on (choices cannot affect earlier
    losses), and the learned baseline ``b_t`` sees only the state before the choice
    it scores, so the estimate stays unbiased (chapter 4). With ``policy="uniform"``
    the locations are random and only the classifier is trained (the fair control:
    a classifier trained *with* random glimpses). With ``policy="soft"`` (a
    :class:`SoftGlimpseNet`) the loss is the classification loss alone. No ``.item()`` or data-dependent
    branch, so :class:`hardattn_utils.SeedStack` can ``vmap`` it (``generator=None``).

    Reference: Mnih et al. (2014); Williams (1992). Chapter 11.
    """
    if policy not in ("sample", "uniform", "soft"):
        raise ValueError(f"policy must be 'sample', 'uniform' or 'soft' for training, got {policy!r}")
    trace = model(images, policy=policy, generator=generator)
    logits = trace.class_logits
    ce = F.cross_entropy(logits.flatten(0, 1), labels.repeat(len(logits)), reduction="none")
    ce = ce.view(logits.shape[:2])  # (T, B)
    if policy != "sample":  # no location choice to score: backpropagation only
        return ce.mean(), logits
    steps = torch.arange(len(ce), 0, -1, device=ce.device).unsqueeze(-1)
    to_go = ce.detach().flip(0).cumsum(0).flip(0) / steps  # (T, B) mean CE from step t on
    reinforce = ((to_go - trace.baselines.detach()) * trace.log_probs).sum(0).mean()
    baseline = (trace.baselines - to_go).pow(2).sum(0).mean()
    return ce.mean() + reinforce + baseline, logits


def glimpse_objective(generator: torch.Generator | None = None) -> Objective:
    """Objective for :func:`hardattn_utils.fit` training a :class:`GlimpseNet` on :class:`Canvases`.

    The loss is :func:`glimpse_loss` (REINFORCE for the locations, backpropagation for
    the rest); the metrics are the last glimpse's loss and accuracy.
    Chapter 11.
    """

    def objective(model: GlimpseNet, batch: Canvases, step: int) -> tuple[Tensor, dict[str, float]]:
        loss, logits = glimpse_loss(model, batch.images, batch.labels, generator=generator)
        accuracy = (logits[-1].argmax(-1) == batch.labels).float().mean()
        last = F.cross_entropy(logits[-1], batch.labels)
        return loss, {"loss": last.item(), "accuracy": accuracy.item()}

    return objective


@torch.no_grad()
def glimpse_accuracy(
    model: GlimpseNet, canvases: Canvases, *, policy: str = "greedy", generator: torch.Generator | None = None
) -> dict[str, float]:
    """Accuracy after 1..T glimpses, and how often some glimpse landed exactly on the digit's cell.

    Args:
        model: the glimpse network.
        canvases: test canvases.
        policy: ``"greedy"``, ``"sample"`` or ``"uniform"`` (see :meth:`GlimpseNet.forward`);
            a :class:`SoftGlimpseNet` always blends (its policy is ``"soft"``).
        generator: randomness for ``"sample"``/``"uniform"``.
    """
    policy = "soft" if isinstance(model, SoftGlimpseNet) else policy
    trace = model(canvases.images, policy=policy, generator=generator)
    correct = trace.class_logits.argmax(-1) == canvases.labels  # (T, B)
    found = (trace.cells == canvases.cells).any(0).float().mean().item()
    return {
        **{f"accuracy@{t + 1}": c.float().mean().item() for t, c in enumerate(correct)},
        "found digit": found,
    }


def whole_image_loss(model: nn.Module, images: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy of a whole-image model on (B, H, W) ``images``; for :func:`train_seeds`. Chapter 11."""
    return F.cross_entropy(model(images), labels)


def train_seeds(
    make: Callable[[], nn.Module],
    loss: Callable[[nn.Module, Tensor, Tensor], Tensor],
    canvases: Canvases,
    num_steps: int,
    *,
    seeds: Iterable[int] = SEEDS,
    batch_size: int = 64,
    lr: float = 1e-2,
    label: str = "",
) -> SeedStack:
    """Train one copy of ``make()`` per seed, all copies at once (:class:`SeedStack`, ``vmap``).

    Copy ``s`` starts from ``torch.manual_seed(s); make()``; every copy sees the same
    batches (step t draws ``batch_size`` canvases with seed t) and its own sampling
    noise; Adam on the *sum* of the copies' losses trains each as it would alone.

    Args:
        make: builds one model (e.g. ``lambda: GlimpseNet(16, num_scales=1)``).
        loss: ``(model, images (B, H, W), labels (B,)) -> scalar``, vmap-safe
            (e.g. ``lambda m, x, y: glimpse_loss(m, x, y)[0]`` or :func:`whole_image_loss`).
        canvases: the training canvases.
        num_steps: Adam steps.
        seeds: one copy per seed.
        batch_size: canvases per step.
        lr: Adam's learning rate.
        label: the progress bar's text.

    Returns:
        The trained stack; ``stack.copy_of(i)`` is seed ``stack.seeds[i]``'s model. Chapter 11.
    """
    _int_at_least("num_steps", num_steps, 1)
    stack = SeedStack(make, seeds)
    optimizer = torch.optim.Adam(stack.parameters(), lr=lr)
    for step in progress_bar(range(num_steps), label):
        index = torch.randint(
            len(canvases.labels), (batch_size,), generator=torch.Generator().manual_seed(step)
        )
        losses = stack.apply(loss, canvases.images[index], canvases.labels[index])  # (S,)
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()
    return stack


@torch.no_grad()
def seed_accuracy(
    stack: SeedStack, canvases: Canvases, *, policy: str = "greedy", seed: int = 0
) -> pd.DataFrame:
    """Test accuracy of every copy in ``stack``: one row per seed (tidy, with a ``seed`` column).

    Glimpse networks get :func:`glimpse_accuracy` (``accuracy@t`` for every t and
    ``found digit``) under ``policy``, with ``torch.Generator().manual_seed(seed)`` for
    its randomness; other models get ``accuracy`` of their logits. Chapter 11.
    """
    rows = []
    for i, s in enumerate(stack.seeds):
        model = stack.copy_of(i).eval()
        if isinstance(model, GlimpseNet):
            gen = torch.Generator().manual_seed(seed)
            row = glimpse_accuracy(model, canvases, policy=policy, generator=gen)
        else:
            row = {"accuracy": (model(canvases.images).argmax(-1) == canvases.labels).float().mean().item()}
        rows.append({"seed": s, **row})
    return pd.DataFrame(rows)


@torch.no_grad()
def seconds_per_image(model: nn.Module, *, batch_size: int = 256, repeats: int = 5) -> float:
    """Measured forward time per image of ``model`` on random canvases of its size (best of ``repeats``).

    .. math:: t = \\min_{r} \\frac{\\text{time of one forward pass}_r}{B}

    The time depends on the machine and its load; compare orderings, not digits.

    Args:
        model: a model with a ``canvas_size`` attribute, called as ``model(images)``.
        batch_size: B canvases of shape (B, H, W) per pass.
        repeats: passes timed; the fastest counts.

    Chapter 11.
    """
    _int_at_least("batch_size", batch_size, 1)
    _int_at_least("repeats", repeats, 1)
    side = model.canvas_size
    images = torch.rand(batch_size, side, side, generator=torch.Generator().manual_seed(0))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model(images)
        best = min(best, time.perf_counter() - start)
    return best / batch_size
