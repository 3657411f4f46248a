"""Small models used by the chapters.

A *selection model* exposes ``scores(batch) -> (B, m)`` and
``selection_loss(batch) -> LossFn``: the loss of a (one-hot or relaxed)
selection ``z`` (..., B, m). Any estimator of :mod:`hardattn_utils.estimators`
then trains it: ``estimator(model.scores(batch), model.selection_loss(batch))``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .estimators import LossFn
from .tasks import RetrievalBatch

__all__ = ["RetrievalNet"]


class RetrievalNet(nn.Module):
    """Bilinear attention over keys, then a linear read-out of the selected value.

    .. math:: s_i = \\frac{(W q)^\\top k_i}{\\sqrt d},\\quad c = \\sum_i z_i v_i,
       \\quad \\hat y = \\mathrm{softmax}(A c + a)

    ``z`` is a one-hot (hard attention), a relaxed sample, or ``softmax(s)`` (soft
    attention). Chapter 3.
    """

    def __init__(self, key_dim: int, num_classes: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(key_dim, key_dim, bias=False)
        nn.init.normal_(self.query_proj.weight, std=0.01)
        self.readout = nn.Linear(num_classes, num_classes)
        self.scale = 1.0 / math.sqrt(key_dim)

    def scores(self, batch: RetrievalBatch) -> Tensor:
        """(B, m) attention scores."""
        projected = self.query_proj(batch.query)  # (B, d)
        return torch.einsum("bd,bmd->bm", projected, batch.keys) * self.scale

    def selection_loss(self, batch: RetrievalBatch) -> LossFn:
        """Cross-entropy of the read-out of selection ``z`` (..., B, m) -> (..., B)."""

        def loss(z: Tensor) -> Tensor:
            context = torch.einsum("...bm,bmc->...bc", z, batch.values)
            logits = self.readout(context)
            target = batch.target.expand(logits.shape[:-1])
            flat = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), reduction="none")
            return flat.reshape(target.shape)

        return loss

    def soft_loss(self, batch: RetrievalBatch) -> Tensor:
        """(B,) loss of soft attention, ``z = softmax(scores)``: trained by backpropagation."""
        return self.selection_loss(batch)(torch.softmax(self.scores(batch), dim=-1))

    @torch.no_grad()
    def accuracy(self, batch: RetrievalBatch, mode: str = "argmax") -> dict[str, float]:
        """Task accuracy and retrieval accuracy with ``mode`` = "argmax" or "soft"."""
        scores = self.scores(batch)
        if mode == "argmax":
            z = F.one_hot(scores.argmax(-1), scores.shape[-1]).float()
        elif mode == "soft":
            z = torch.softmax(scores, dim=-1)
        else:
            raise ValueError(f"mode must be 'argmax' or 'soft', got {mode!r}")
        logits = self.readout(torch.einsum("bm,bmc->bc", z, batch.values))
        return {
            "accuracy": (logits.argmax(-1) == batch.target).float().mean().item(),
            "retrieval": (scores.argmax(-1) == batch.index).float().mean().item(),
        }
