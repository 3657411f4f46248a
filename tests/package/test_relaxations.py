"""Gumbel-Softmax and straight-through estimators: bias that shrinks with tau, exact one-hots."""

import functools

import numpy as np
import pytest
import torch

import hardattn_utils as ha

LOGITS = torch.tensor([1.0, 0.0, -1.0])
TARGET = torch.tensor([0.0, 1.0, 0.0])


def squared_distance(z: torch.Tensor) -> torch.Tensor:
    """The fixed problem of chapter 5: f(z) = ||z - e_2||^2."""
    return ((z - TARGET) ** 2).sum(-1)


@functools.cache
def gs_stats(tau: float, num_draws: int = 200_000):
    estimator = functools.partial(ha.gumbel_softmax_estimator, tau=tau)
    return ha.gradient_stats(estimator, LOGITS, squared_distance, num_draws, torch.Generator().manual_seed(0))


def test_gumbel_softmax_is_biased_at_tau_one():
    stats = gs_stats(1.0)
    assert stats["z"].abs().max() > 4.0  # |mean - exact| > 4 standard errors on some coordinate


def test_gumbel_softmax_bias_shrinks_at_lower_tau():
    high, low = gs_stats(1.0), gs_stats(0.1)
    # the bias norm at tau = 0.1, even with 4 standard errors added, is below the one at tau = 1
    low_upper = np.linalg.norm(low["bias"]) + 4 * np.linalg.norm(low["se"])
    high_lower = np.linalg.norm(high["bias"]) - 4 * np.linalg.norm(high["se"])
    assert low_upper < high_lower


def test_gumbel_softmax_variance_grows_as_tau_falls():
    assert gs_stats(0.1, 20_000)["variance"].sum() > 5 * gs_stats(1.0, 20_000)["variance"].sum()


@pytest.mark.parametrize("name", ["ST Gumbel-Softmax", "ST softmax"])
def test_straight_through_forward_is_an_exact_one_hot_with_a_finite_nonzero_gradient(name):
    logits = torch.randn(64, 5, generator=torch.Generator().manual_seed(1)).requires_grad_(True)
    weights = torch.randn(5, generator=torch.Generator().manual_seed(2))
    estimate = ha.ESTIMATORS[name](logits, lambda z: z @ weights, generator=torch.Generator().manual_seed(3))
    z = estimate.z.detach()
    assert set(z.unique().tolist()) <= {0.0, 1.0}
    assert torch.equal(z.sum(-1), torch.ones(64))
    estimate.surrogate.backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0


def test_straight_through_forward_is_bit_exact_in_textbook_order_and_ours_but_not_reordered():
    generator = torch.Generator().manual_seed(4)
    logits = 3 * torch.randn(4096, 7, generator=generator)
    y_soft = torch.softmax((logits + ha.gumbel_noise(logits.shape, generator=generator)) / 0.5, -1)
    y_hard = torch.nn.functional.one_hot(y_soft.argmax(-1), 7).float()
    assert torch.equal(y_hard - y_soft.detach() + y_soft, y_hard)  # (1 - s) + s rounds back to 1
    assert not torch.equal(y_hard + y_soft - y_soft.detach(), y_hard)  # (1 + s) - s need not
    assert torch.equal(ha.straight_through(y_hard, y_soft), y_hard)  # s - s is exactly 0
