"""The scikit-learn digits data set (shipped with the library: no download) as tensors.

Chapters 10 and 11 train on it.
"""

from __future__ import annotations

import torch

__all__ = ["load_digits_tensors"]


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
