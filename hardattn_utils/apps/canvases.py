"""Cluttered canvases and glimpses: the data and the retina of chapter 11.

Digits pasted on canvases strewn with crops of other digits (in the spirit of the
cluttered digits of Mnih et al., 2014), the grid of glimpse positions, and the
glimpse read-out: one cell (hard attention, :func:`extract_glimpse`) or every cell
at once (:func:`all_glimpses`, what soft attention over the grid must read).

Shapes: B images, H = W canvas side, s glimpse side, G glimpse positions per axis
(G² in all), J scales.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import check_int

__all__ = ["Canvases", "all_glimpses", "cluttered_canvases", "extract_glimpse", "grid_size"]


def _int_at_least(name: str, value: object, low: int) -> int:
    return check_int(value, name, minimum=low)


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


def all_glimpses(images: Tensor, *, glimpse_size: int = 8, stride: int = 4, num_scales: int = 1) -> Tensor:
    """Read the glimpse at every one of the G² cells: what soft attention over the grid must read.

    Entry ``[:, c]`` equals :func:`extract_glimpse` at cell ``c``, flattened; the read
    covers the whole canvas, so its cost is O(G² · J · s²) per image, growing with H·W.

    .. math:: P_{b,c} = \\rho(x_b, c),\\quad c = 0, \\dots, G^2 - 1

    Args:
        images: (B, H, W) canvases.
        glimpse_size: s.
        stride: spacing of the grid.
        num_scales: J >= 1.

    Returns:
        (B, G², J·s²) glimpses, scales concatenated in order.

    Reference: the soft counterpart of the retina of Mnih et al. (2014). Chapter 11.
    """
    if not isinstance(images, Tensor) or images.dim() != 3:
        raise ValueError(f"images must have shape (B, H, W), got {getattr(images, 'shape', images)!r}")
    grid_size(images.shape[-1], glimpse_size, stride)
    _int_at_least("num_scales", num_scales, 1)
    return _read_all(images, glimpse_size, stride, num_scales)


def _read_all(images: Tensor, glimpse_size: int, stride: int, num_scales: int) -> Tensor:
    """:func:`all_glimpses` without the checks (``vmap``-safe)."""
    pad = glimpse_size * (2 ** (num_scales - 1) - 1) // 2
    padded = F.pad(images, (pad, pad, pad, pad)).unsqueeze(1) if pad else images.unsqueeze(1)
    scales = []
    for j in range(num_scales):
        start, side = pad - glimpse_size * (2**j - 1) // 2, glimpse_size * 2**j
        end = start + images.shape[-1] - glimpse_size + side
        crop = padded[..., start:end, start:end]  # (B, 1, H', W')
        patches = F.unfold(crop, side, stride=stride)  # (B, side², G²)
        if j:
            patches = F.avg_pool2d(patches.transpose(1, 2).reshape(-1, 1, side, side), 2**j)
            patches = patches.view(len(images), -1, glimpse_size**2).transpose(1, 2)
        scales.append(patches.transpose(1, 2))  # (B, G², s²)
    return torch.cat(scales, dim=-1)
