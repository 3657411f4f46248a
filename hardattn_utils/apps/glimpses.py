"""Glimpse models: where to look (hard or soft attention over a grid), and whole-image models.

A recurrent glimpse network in the spirit of Mnih et al. (2014) picks one cell
of a grid of glimpse positions at every step (hard attention over the grid),
reads a small (optionally multi-resolution) patch there and updates a GRU state.
:class:`SoftGlimpseNet` is the same network with a softmax-weighted blend of
every cell's patch instead (soft attention, trained by backpropagation);
:class:`WholeImageNet` (an MLP) and :class:`SmallCNN` read every pixel.
Chapter 11 (``11_glimpses``) trains them all (``glimpse_training``) and counts
their compute as the canvas grows (``flops``). The canvases and the glimpse
read-out live in ``canvases``.

Shapes: B images, H = W canvas side, s glimpse side, G glimpse positions per axis
(G² in all), T glimpses, C classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..estimators import sample_one_hot
from .canvases import _int_at_least, _read, _read_all, grid_size

__all__ = [
    "GlimpseNet",
    "GlimpseTrace",
    "SmallCNN",
    "SoftGlimpseNet",
    "WholeImageNet",
    "num_parameters",
]


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
        self._check_images(images)
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

    def _check_images(self, images: Tensor) -> None:
        if images.dim() != 3 or images.shape[-1] != self.canvas_size:
            raise ValueError(
                f"images must have shape (B, {self.canvas_size}, {self.canvas_size}), "
                f"got {tuple(images.shape)}"
            )

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


class SoftGlimpseNet(GlimpseNet):
    """:class:`GlimpseNet` with soft attention over the grid: every step blends all G² patches.

    .. math:: w_t = \\mathrm{softmax}(\\ell^{row}_t) \\otimes \\mathrm{softmax}(\\ell^{col}_t),
       \\quad g_t = \\sum_c w_{t,c}\\, \\rho(x, c),
       \\quad h_t = \\mathrm{GRU}(\\mathrm{relu}(W g_t + U \\bar c_t), h_{t-1})

    Same parameters and read-outs as the hard network; the location fed to the GRU is
    the expected (row, column) under ``w_t``. Everything is differentiable, so plain
    backpropagation trains it, but every step reads every cell: the cost per image
    grows with the canvas area (:meth:`flops`). The trace's ``cells`` is the cell of
    largest weight and ``log_probs`` its log-weight; ``baselines`` are zeros (unused).

    Reference: soft attention as in Bahdanau et al. (2015), on the grid of Mnih et al. (2014). Chapter 11.
    """

    def forward(
        self, images: Tensor, *, policy: str = "soft", generator: torch.Generator | None = None
    ) -> GlimpseTrace:
        """Take ``num_glimpses`` soft glimpses of ``images`` (B, H, W); ``policy`` must be ``"soft"``."""
        if policy != "soft":
            raise ValueError(f"policy must be 'soft' for a SoftGlimpseNet, got {policy!r}")
        self._check_images(images)
        g = self.grid
        patches = _read_all(images, self.glimpse_size, self.stride, self.num_scales)  # (B, G², J·s²)
        coords = torch.stack(torch.meshgrid(torch.arange(g), torch.arange(g), indexing="ij"), -1)
        coords = coords.flatten(0, 1).to(images) / max(g - 1, 1)  # (G², 2)
        state = images.new_zeros(len(images), self.hidden)
        out: dict[str, list[Tensor]] = {"class_logits": [], "cells": [], "log_probs": []}
        for _ in range(self.num_glimpses):
            probs = torch.softmax(self.locate(state).view(len(state), 2, g), -1)  # (B, 2, G)
            weights = (probs[:, 0, :, None] * probs[:, 1, None, :]).flatten(1)  # (B, G²)
            blend = torch.einsum("bc,bcp->bp", weights, patches)  # (B, J·s²)
            glimpse = F.relu(self.what(blend) + self.where(weights @ coords))
            state = _gru(self.core, glimpse, state)
            out["class_logits"].append(self.classify(state))
            out["log_probs"].append(weights.max(-1).values.log())
            out["cells"].append(weights.argmax(-1))
        trace = {k: torch.stack(v) for k, v in out.items()}
        return GlimpseTrace(**trace, baselines=torch.zeros_like(trace["log_probs"]))

    def flops(self) -> int:
        """Multiply-adds ×2 per image: reading all G² patches once, then per glimpse a blend of them."""
        s, h, j, g2 = self.glimpse_size, self.hidden, self.num_scales, self.grid**2
        read_all = g2 * sum((s * 2**k) ** 2 for k in range(j))
        heads = 2 * self.grid + self.classify.out_features  # location, classes
        per_glimpse = (
            2 * g2 * (j * s * s + 3) + 2 * (j * s * s * h + 2 * h) + 2 * 3 * 2 * h * h + 2 * h * heads
        )
        return read_all + self.num_glimpses * per_glimpse


class SmallCNN(nn.Module):
    """A small convolutional network on the whole canvas: shared weights at every placement.

    .. math:: \\hat y = \\mathrm{softmax}\\big(W \\max_{i,j}
       \\mathrm{relu}(k_2 * \\mathrm{pool}(\\mathrm{relu}(k_1 * x)))_{:,i,j}\\big)

    Two 3×3 convolutions (the first followed by 2×2 max-pooling), a global max over
    positions and a linear read-out; the parameter count does not depend on the
    canvas, the compute grows with its area (:meth:`flops`).

    Chapter 11.
    """

    def __init__(
        self, canvas_size: int = 16, *, channels: tuple[int, int] = (8, 16), num_classes: int = 10
    ) -> None:
        super().__init__()
        self.canvas_size = _int_at_least("canvas_size", canvas_size, 2)
        self.channels = (
            _int_at_least("channels[0]", channels[0], 1),
            _int_at_least("channels[1]", channels[1], 1),
        )
        self.conv1 = nn.Conv2d(1, channels[0], 3, padding=1)
        self.conv2 = nn.Conv2d(channels[0], channels[1], 3, padding=1)
        self.classify = nn.Linear(channels[1], num_classes)

    def forward(self, images: Tensor) -> Tensor:
        """(B, H, W) -> (B, C) class logits."""
        x = F.max_pool2d(F.relu(self.conv1(images.unsqueeze(1))), 2)  # (B, c1, H/2, W/2)
        x = F.relu(self.conv2(x)).amax((-2, -1))  # (B, c2)
        return self.classify(x)

    def flops(self) -> int:
        """Multiply-adds ×2 per image: O(H·W·c1·c2) (pooling and ReLU: one op per value)."""
        (c1, c2), n = self.channels, self.canvas_size
        half = n // 2
        conv = n * n * 9 * c1 + half * half * 9 * c1 * c2
        cheap = n * n * c1 * 2 + half * half * c2 * 2  # ReLU, pooling
        return 2 * (conv + c2 * self.classify.out_features) + cheap
