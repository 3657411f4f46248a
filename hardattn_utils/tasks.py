"""Seeded synthetic tasks and the scikit-learn digits loaders.

No task downloads anything: data are generated from a ``torch.Generator`` or
read from the copy of the digits data set that ships with scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from ._checks import check_min_fields

__all__ = ["RetrievalBatch", "RetrievalTask", "load_digits_tensors"]


@dataclass(frozen=True)
class RetrievalBatch:
    """One batch of the retrieval task.

    Attributes:
        keys: (B, m, d) one key per position.
        values: (B, m, C) one-hot class label stored at each position.
        query: (B, d) noisy copy of the key at ``index``.
        index: (B,) the position whose key the query copies.
        target: (B,) the class label stored there.
    """

    keys: Tensor
    values: Tensor
    query: Tensor
    index: Tensor
    target: Tensor


@dataclass(frozen=True)
class RetrievalTask:
    """Find the key a noisy query copies among ``num_positions`` and report its label.

    The label at every position is uniform over ``num_classes``, so a model that
    does not attend to the right position is right only by chance (about 1/C of
    the time plus the chance that a distractor carries the same label).

    Chapter 3 trains stochastic hard attention on it.
    """

    num_positions: int = 8
    key_dim: int = 16
    num_classes: int = 10
    noise: float = 0.5

    def __post_init__(self) -> None:
        check_min_fields(self, ("num_positions", "key_dim", "num_classes"))
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> RetrievalBatch:
        """Draw a batch; the same generator state gives the same batch."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        m, d, c = self.num_positions, self.key_dim, self.num_classes
        keys = torch.randn(batch_size, m, d, generator=generator)
        labels = torch.randint(c, (batch_size, m), generator=generator)
        index = torch.randint(m, (batch_size,), generator=generator)
        rows = torch.arange(batch_size)
        query = keys[rows, index] + self.noise * torch.randn(batch_size, d, generator=generator)
        values = torch.nn.functional.one_hot(labels, c).float()
        return RetrievalBatch(keys, values, query, index, labels[rows, index])


def load_digits_tensors(*, binarize: bool = True, test_fraction: float = 0.2, seed: int = 0):
    """scikit-learn's 8×8 digits (1,797 images, shipped with the package) as tensors.

    Args:
        binarize: threshold pixel intensities (0–16) at 8 to get {0, 1} pixels.
        test_fraction: fraction held out, chosen by a seeded permutation.
        seed: seed of the split.

    Returns:
        ``(x_train, y_train, x_test, y_test)`` with ``x`` (N, 64) float in [0, 1].
    """
    from sklearn.datasets import load_digits

    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    if binarize:
        x = (x >= 0.5).float()
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(test_fraction * len(x)))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]
