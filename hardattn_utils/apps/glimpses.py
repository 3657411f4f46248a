"""Glimpses: classify a digit on a cluttered canvas by looking at a few places.

A recurrent glimpse network in the spirit of Mnih et al. (2014) picks one cell
of a grid of glimpse positions at every step (hard attention over the grid),
reads a small (optionally multi-resolution) patch there and updates a GRU state; it is
trained with the classification loss plus REINFORCE with a learned baseline for
the location choices. A whole-image MLP is the comparison. Chapter 11
(``11_glimpses``) trains both and counts their compute as the canvas grows.

Shapes: B images, H = W canvas side, s glimpse side, G glimpse positions per axis
(G² in all), T glimpses, C classes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..estimators import sample_one_hot
from ..seeds import SEEDS, SeedStack
from ..train import Objective, progress_bar

__all__ = [
    "Canvases",
    "GlimpseNet",
    "GlimpseTrace",
    "WholeImageNet",
    "cluttered_canvases",
    "extract_glimpse",
    "glimpse_accuracy",
    "glimpse_loss",
    "glimpse_objective",
    "grid_size",
    "num_parameters",
    "seed_accuracy",
    "train_seeds",
    "whole_image_loss",
]


def _int_at_least(name: str, value: object, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    return value


def grid_size(canvas_size: int, glimpse_size: int = 8, stride: int = 4) -> int:
    """G, the number of glimpse positions per axis: tops ``0, stride, ..., canvas_size - glimpse_size``."""
    _int_at_least("glimpse_size", glimpse_size, 1)
    _int_at_least("stride", stride, 1)
    _int_at_least("canvas_size", canvas_size, glimpse_size)
    if (canvas_size - glimpse_size) % stride:
        raise ValueError(
            f"canvas_size - glimpse_size must be a multiple of stride={stride}, "
            f"got canvas_size={canvas_size}, glimpse_size={glimpse_size}"
        )
    return (canvas_size - glimpse_size) // stride + 1


@dataclass(frozen=True)
class Canvases:
    """Digits pasted on cluttered canvases.

    Attributes:
        images: (B, H, W) pixel intensities in [0, 1].
        labels: (B,) digit classes.
        positions: (B, 2) (row, col) of the digit's top-left pixel.
        cells: (B,) index ``(row // stride) * G + col // stride`` of the glimpse cell holding the digit.
    """

    images: Tensor
    labels: Tensor
    positions: Tensor
    cells: Tensor


def cluttered_canvases(
    digits: Tensor,
    labels: Tensor,
    num_images: int,
    *,
    canvas_size: int = 24,
    stride: int = 4,
    num_clutter: int = 4,
    clutter_size: int = 4,
    generator: torch.Generator | None = None,
) -> Canvases:
    """Paste random digits on canvases strewn with crops of other digits.

    Each canvas gets ``num_clutter`` random ``clutter_size``² crops of random digits
    at random places, then one digit, written over the clutter, with its top-left
    corner on the glimpse grid (multiples of ``stride``); the digit's square holds
    exactly the digit's pixels.

    Args:
        digits: (n, s, s) source images.
        labels: (n,) their classes.
        num_images: B.
        canvas_size: H = W; ``canvas_size - s`` must be a multiple of ``stride``.
        stride: spacing of the glimpse grid.
        num_clutter: clutter crops per canvas.
        clutter_size: side of a clutter crop (<= s).
        generator: source of randomness; the same state gives the same canvases.

    Reference: the cluttered digits of Mnih et al. (2014). Chapter 11.
    """
    if not isinstance(digits, Tensor) or digits.dim() != 3 or digits.shape[1] != digits.shape[2]:
        raise ValueError(f"digits must have shape (n, s, s), got {getattr(digits, 'shape', digits)!r}")
    if not isinstance(labels, Tensor) or labels.shape != digits.shape[:1]:
        raise ValueError(
            f"labels must have shape ({digits.shape[0]},), got {getattr(labels, 'shape', labels)!r}"
        )
    side = digits.shape[1]
    g = grid_size(canvas_size, side, stride)
    _int_at_least("num_images", num_images, 1)
    _int_at_least("num_clutter", num_clutter, 0)
    if not 1 <= _int_at_least("clutter_size", clutter_size, 1) <= side:
        raise ValueError(f"clutter_size must be <= the digit side {side}, got {clutter_size}")
    images = torch.zeros(num_images, canvas_size, canvas_size)
    pick = torch.randint(len(digits), (num_images, num_clutter + 1), generator=generator)
    crop = torch.randint(side - clutter_size + 1, (num_images, num_clutter, 2), generator=generator)
    place = torch.randint(canvas_size - clutter_size + 1, (num_images, num_clutter, 2), generator=generator)
    cell = torch.randint(g * g, (num_images,), generator=generator)
    positions = torch.stack([cell // g, cell % g], dim=1) * stride
    for b in range(num_images):
        for j in range(num_clutter):
            (cr, cc), (pr, pc) = crop[b, j].tolist(), place[b, j].tolist()
            piece = digits[pick[b, j + 1], cr : cr + clutter_size, cc : cc + clutter_size]
            window = images[b, pr : pr + clutter_size, pc : pc + clutter_size]
            torch.maximum(window, piece, out=window)
        r, c = positions[b].tolist()
        images[b, r : r + side, c : c + side] = digits[pick[b, 0]]
    return Canvases(images, labels[pick[:, 0]], positions, cell)


def _window(images: Tensor, top: Tensor, left: Tensor, size: int) -> Tensor:
    offsets = torch.arange(size, device=images.device)
    rows = (top[:, None] + offsets)[:, :, None]  # (B, size, 1)
    cols = (left[:, None] + offsets)[:, None, :]  # (B, 1, size)
    return images[torch.arange(len(images), device=images.device)[:, None, None], rows, cols]


def extract_glimpse(
    images: Tensor, cell: Tensor, *, glimpse_size: int = 8, stride: int = 4, num_scales: int = 1
) -> Tensor:
    """Read the multi-resolution glimpse at grid cell ``cell`` of every canvas.

    Scale 0 is exactly ``images[b, r:r+s, c:c+s]`` with ``(r, c) = divmod(cell, G) * stride``;
    scale j covers the ``s·2^j`` square with the same centre (zeros outside the
    canvas), average-pooled down to ``s × s``. Cost per image: O(s² · 4^J), not O(H·W).

    Args:
        images: (B, H, W) canvases.
        cell: (B,) long glimpse-cell indices in ``[0, G²)``.
        glimpse_size: s.
        stride: spacing of the grid.
        num_scales: J >= 1.

    Returns:
        (B, J, s, s) glimpses.

    Reference: the retina of Mnih et al. (2014). Chapter 11.
    """
    if not isinstance(images, Tensor) or images.dim() != 3:
        raise ValueError(f"images must have shape (B, H, W), got {getattr(images, 'shape', images)!r}")
    g = grid_size(images.shape[-1], glimpse_size, stride)
    _int_at_least("num_scales", num_scales, 1)
    if not isinstance(cell, Tensor) or cell.shape != images.shape[:1] or cell.dtype != torch.long:
        raise ValueError(f"cell must be a long tensor of shape ({len(images)},), got {cell!r}")
    if ((cell < 0) | (cell >= g * g)).any():
        raise ValueError(f"cell must lie in [0, {g * g}) for a {g}×{g} grid")
    return _read(images, cell, g, glimpse_size, stride, num_scales)


def _read(images: Tensor, cell: Tensor, g: int, glimpse_size: int, stride: int, num_scales: int) -> Tensor:
    """:func:`extract_glimpse` without the checks (no data-dependent branch, so ``vmap`` can run it)."""
    pad = glimpse_size * (2 ** (num_scales - 1) - 1) // 2
    padded = F.pad(images, (pad, pad, pad, pad)) if pad else images
    top, left = (cell // g) * stride + pad, (cell % g) * stride + pad
    scales = []
    for j in range(num_scales):
        shift = glimpse_size * (2**j - 1) // 2
        patch = _window(padded, top - shift, left - shift, glimpse_size * 2**j)
        scales.append(F.avg_pool2d(patch.unsqueeze(1), 2**j).squeeze(1) if j else patch)
    return torch.stack(scales, dim=1)


def _gru(cell: nn.GRUCell, x: Tensor, h: Tensor) -> Tensor:
    """``cell(x, h)`` written out with ``F.linear`` (``vmap`` has no batching rule for ``gru_cell``)."""
    i_r, i_z, i_n = F.linear(x, cell.weight_ih, cell.bias_ih).chunk(3, -1)
    h_r, h_z, h_n = F.linear(h, cell.weight_hh, cell.bias_hh).chunk(3, -1)
    r, z = torch.sigmoid(i_r + h_r), torch.sigmoid(i_z + h_z)
    return (1 - z) * torch.tanh(i_n + r * h_n) + z * h


@dataclass(frozen=True)
class GlimpseTrace:
    """What one pass of :class:`GlimpseNet` did.

    Attributes:
        class_logits: (T, B, C) prediction after each glimpse.
        cells: (T, B) chosen glimpse cells.
        log_probs: (T, B) ``log π(cell_t | h_{t-1})`` (row and column log-probabilities summed).
        baselines: (T, B) learned baseline ``b(h_{t-1})`` (its input detached).
    """

    class_logits: Tensor
    cells: Tensor
    log_probs: Tensor
    baselines: Tensor


def num_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


class GlimpseNet(nn.Module):
    """Recurrent attention model: where to look (a categorical over G² cells), what is there, what digit.

    .. math:: \\ell_t = W_{loc} h_{t-1},\\quad c_t \\sim \\mathrm{Cat}(\\mathrm{softmax}(\\ell_t)),\\quad
       h_t = \\mathrm{GRU}(g(\\rho(x, c_t), c_t), h_{t-1}),\\quad \\hat y_t = \\mathrm{softmax}(W_{cls} h_t)

    A location is a (row, column) pair drawn from two categoricals of G each, so the
    choice is hard attention over the G² cells while the location head costs only
    O(G); compute per image barely depends on the canvas (:meth:`flops`).

    Reference: Mnih, Heess, Graves & Kavukcuoglu (2014). Chapter 11.
    """

    def __init__(
        self,
        canvas_size: int = 24,
        *,
        glimpse_size: int = 8,
        stride: int = 4,
        num_scales: int = 3,
        hidden: int = 64,
        num_glimpses: int = 3,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        self.grid = grid_size(canvas_size, glimpse_size, stride)
        self.canvas_size, self.glimpse_size, self.stride = canvas_size, glimpse_size, stride
        self.num_scales = _int_at_least("num_scales", num_scales, 1)
        self.num_glimpses = _int_at_least("num_glimpses", num_glimpses, 1)
        self.hidden = _int_at_least("hidden", hidden, 1)
        self.what = nn.Linear(num_scales * glimpse_size**2, hidden)
        self.where = nn.Linear(2, hidden)
        self.core = nn.GRUCell(hidden, hidden)
        self.locate = nn.Linear(hidden, 2 * self.grid)  # row and column logits
        self.classify = nn.Linear(hidden, num_classes)
        self.baseline = nn.Linear(hidden, 1)

    def _step(self, images: Tensor, cell: Tensor, state: Tensor) -> Tensor:
        patch = _read(images, cell, self.grid, self.glimpse_size, self.stride, self.num_scales)
        where = torch.stack([cell // self.grid, cell % self.grid], -1).float() / max(self.grid - 1, 1)
        glimpse = F.relu(self.what(patch.flatten(1)) + self.where(where))
        return _gru(self.core, glimpse, state)

    def _choose(self, state: Tensor, policy: str, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        logits = self.locate(state).view(len(state), 2, self.grid)  # (B, 2, G): row, column
        if policy == "greedy":
            rowcol = logits.argmax(-1)
        elif policy == "uniform":
            rowcol = torch.randint(self.grid, (len(state), 2), generator=generator, device=state.device)
        elif generator is not None:
            rowcol = sample_one_hot(logits, generator=generator)[0].argmax(-1)
        else:  # Gumbel-max with the global generator: no checks, so ``vmap`` can run it
            rowcol = (logits - torch.rand_like(logits).log().neg().log()).argmax(-1)
        log_p = torch.log_softmax(logits, -1).gather(-1, rowcol.unsqueeze(-1)).squeeze(-1).sum(-1)
        return rowcol[:, 0] * self.grid + rowcol[:, 1], log_p

    def forward(
        self, images: Tensor, *, policy: str = "sample", generator: torch.Generator | None = None
    ) -> GlimpseTrace:
        """Take ``num_glimpses`` glimpses of ``images`` (B, H, W).

        ``policy``: ``"sample"`` (training), ``"greedy"`` (argmax row and column) or
        ``"uniform"`` (random cells, a control that ignores the learned policy).
        """
        if policy not in ("sample", "greedy", "uniform"):
            raise ValueError(f"policy must be 'sample', 'greedy' or 'uniform', got {policy!r}")
        if images.dim() != 3 or images.shape[-1] != self.canvas_size:
            raise ValueError(
                f"images must have shape (B, {self.canvas_size}, {self.canvas_size}), "
                f"got {tuple(images.shape)}"
            )
        state = images.new_zeros(len(images), self.hidden)
        out: dict[str, list[Tensor]] = {"class_logits": [], "cells": [], "log_probs": [], "baselines": []}
        for _ in range(self.num_glimpses):
            cell, log_p = self._choose(state, policy, generator)
            out["baselines"].append(self.baseline(state.detach()).squeeze(-1))
            state = self._step(images, cell, state)
            out["class_logits"].append(self.classify(state))
            out["cells"].append(cell)
            out["log_probs"].append(log_p)
        return GlimpseTrace(**{k: torch.stack(v) for k, v in out.items()})

    def flops(self) -> int:
        """Multiply-adds ×2 per image, counted from the layer sizes (reads and pooling: one op per pixel)."""
        s, h, j = self.glimpse_size, self.hidden, self.num_scales
        retina = sum((s * 2**k) ** 2 for k in range(j))
        heads = 2 * self.grid + self.classify.out_features + 1  # location, classes, baseline
        per_glimpse = retina + 2 * (j * s * s * h + 2 * h) + 2 * 3 * 2 * h * h + 2 * h * heads
        return self.num_glimpses * per_glimpse


class WholeImageNet(nn.Module):
    """The comparison: an MLP that reads every pixel of the canvas.

    .. math:: \\hat y = \\mathrm{softmax}(W_2\\,\\mathrm{relu}(W_1 \\mathrm{vec}(x)))

    Chapter 11.
    """

    def __init__(self, canvas_size: int = 24, *, hidden: int = 64, num_classes: int = 10) -> None:
        super().__init__()
        self.canvas_size = _int_at_least("canvas_size", canvas_size, 1)
        self.hidden = _int_at_least("hidden", hidden, 1)
        self.net = nn.Sequential(
            nn.Flatten(), nn.Linear(canvas_size**2, hidden), nn.ReLU(), nn.Linear(hidden, num_classes)
        )

    def forward(self, images: Tensor) -> Tensor:
        """(B, H, W) -> (B, C) class logits."""
        return self.net(images)

    def flops(self) -> int:
        """Multiply-adds ×2 per image: O(H·W·hidden)."""
        return 2 * self.hidden * (self.canvas_size**2 + self.net[-1].out_features)


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
    a classifier trained *with* random glimpses). No ``.item()`` or data-dependent
    branch, so :class:`hardattn_utils.SeedStack` can ``vmap`` it (``generator=None``).

    Reference: Mnih et al. (2014); Williams (1992). Chapter 11.
    """
    if policy not in ("sample", "uniform"):
        raise ValueError(f"policy must be 'sample' or 'uniform' for training, got {policy!r}")
    trace = model(images, policy=policy, generator=generator)
    logits = trace.class_logits
    ce = F.cross_entropy(logits.flatten(0, 1), labels.repeat(len(logits)), reduction="none")
    ce = ce.view(logits.shape[:2])  # (T, B)
    if policy == "uniform":
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
        policy: ``"greedy"``, ``"sample"`` or ``"uniform"`` (see :meth:`GlimpseNet.forward`).
        generator: randomness for ``"sample"``/``"uniform"``.
    """
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
