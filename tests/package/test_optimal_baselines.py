"""The scalar optimal baseline, the exact REINFORCE variance and the per-input
variance decomposition (chapter 4)."""

import pytest
import torch

import hardattn_utils as ha
from hardattn_utils import comparisons

K = 6


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    logits, values = torch.randn(K, generator=gen), torch.randn(K, generator=gen)
    return logits, lambda z: (z @ values - 1.0) ** 2 + 2.0


def test_scalar_optimal_baseline_minimises_the_exact_variance(problem):
    logits, f = problem
    b = ha.scalar_optimal_baseline(logits, f)
    best = ha.reinforce_variance(logits, f, b)
    for delta in (-0.1, -0.01, 0.01, 0.1):
        assert ha.reinforce_variance(logits, f, b + delta) > best
    assert ha.reinforce_variance(logits, f, ha.optimal_baseline(logits, f)) < best


def test_reinforce_variance_matches_draws(problem):
    logits, f = problem
    draws = ha.gradient_samples(ha.reinforce, logits, f, 100_000, torch.Generator().manual_seed(3))
    exact = ha.reinforce_variance(logits, f).item()
    assert abs(draws.var(0).sum().item() / exact - 1) < 0.03


def test_optimal_baseline_for_phi_on_the_kool_toy():
    bits = torch.tensor([[(k >> i) & 1 for i in range(3)] for k in range(8)], dtype=torch.float32)
    p0, ones = torch.tensor([0.6, 0.51, 0.48]), bits.sum(-1)
    f = lambda z: ((z @ bits - p0) ** 2).sum(-1)  # noqa: E731
    logits = torch.zeros(8)
    b_phi = ha.scalar_optimal_baseline(logits, f, direction=ones)
    v_phi = ha.reinforce_variance(logits, f, b_phi, ones).item()
    v_logit = ha.reinforce_variance(logits, f, ha.optimal_baseline(logits, f), ones).item()
    assert v_phi == pytest.approx(0.00465, abs=5e-5)
    assert v_logit == pytest.approx(0.01745, abs=5e-5)


def test_scalar_optimal_baseline_of_a_constant_loss_is_that_constant():
    logits = torch.randn(3, K, generator=torch.Generator().manual_seed(4))
    b = ha.scalar_optimal_baseline(logits, lambda z: torch.full(z.shape[:-1], 2.5))
    torch.testing.assert_close(b, torch.full((3,), 2.5))


def test_variance_decomposition_adds_up_and_rejects_bad_shapes():
    draws = torch.randn(50, 4, 3, generator=torch.Generator().manual_seed(5)) + torch.arange(4.0)[:, None]
    parts = comparisons.variance_decomposition(draws)
    assert parts["total"] == pytest.approx(parts["within"] + parts["between"], rel=1e-9)
    assert parts["between"] > 1.0  # the rows' means 0, 1, 2, 3 differ
    with pytest.raises(ValueError, match="draws"):
        comparisons.variance_decomposition(torch.randn(5, 3))


def test_seeded_variance_decomposition_between_part_is_the_exact_spread():
    gen = torch.Generator().manual_seed(6)
    logits, values, targets = (
        torch.randn(8, K, generator=gen),
        torch.randn(8, K, generator=gen),
        torch.randn(8),
    )
    f = lambda z: ((z * values).sum(-1) - targets) ** 2  # noqa: E731
    frame = comparisons.seeded_variance_decomposition(ha.rloo, logits, f, 2000, seeds=[0, 1])
    exact = (ha.exact_gradient(logits, f) * 8).double().var(0, unbiased=False).sum().item()
    assert list(frame["seed"]) == [0, 1]
    assert frame["between"].mean() == pytest.approx(exact, rel=0.1)
