"""Fixtures of the package tests: small categorical problems with an exact answer."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch

import hardattn_utils as ha

K = 6


@pytest.fixture
def quadratic() -> tuple[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]:
    """(logits (K,), f) with f(z) = (z·v − 1)² + 2: not linear in z, mean far from 0."""
    gen = torch.Generator().manual_seed(0)
    logits, values = torch.randn(K, generator=gen), torch.randn(K, generator=gen)
    return logits, lambda z: (z @ values - 1.0) ** 2 + 2.0


@pytest.fixture
def retrieval() -> tuple[ha.RetrievalTask, ha.RetrievalBatch]:
    """A small retrieval task and a held-out batch."""
    task = ha.RetrievalTask(num_positions=4, noise=0.3)
    return task, task.sample(200, torch.Generator().manual_seed(2))
