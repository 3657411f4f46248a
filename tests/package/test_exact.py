"""Exact expectation and gradient by enumeration, and estimator statistics (chapters 2-3)."""

import pytest
import torch

import hardattn_utils as ha

TARGET = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])
LOGITS = torch.tensor([1.2, 0.8, 0.5, -0.2, 0.3], dtype=torch.float64)


def loss(z):
    return ((z - TARGET.to(z.dtype)) ** 2).sum(-1)


def test_expected_loss_is_the_probability_weighted_sum():
    probs = torch.softmax(LOGITS, -1)
    by_hand = sum(probs[k] * loss(torch.eye(5, dtype=torch.float64)[k]) for k in range(5))
    torch.testing.assert_close(ha.expected_loss(LOGITS, loss), by_hand)


def test_exact_gradient_matches_central_finite_differences():
    grad = ha.exact_gradient(LOGITS, loss)
    eps = 1e-6
    for k in range(5):
        step = torch.zeros(5, dtype=torch.float64)
        step[k] = eps
        numeric = (ha.expected_loss(LOGITS + step, loss) - ha.expected_loss(LOGITS - step, loss)) / (2 * eps)
        assert abs(grad[k].item() - numeric.item()) < 1e-8


def test_exact_gradient_of_a_batch_is_of_the_batch_mean():
    batch = torch.stack([LOGITS, LOGITS.flip(0)])
    grad = ha.exact_gradient(batch, loss)
    torch.testing.assert_close(grad[0], ha.exact_gradient(LOGITS, loss) / 2)


def test_expected_loss_matches_monte_carlo():
    index = ha.gumbel_max_sample(LOGITS.expand(200_000, 5), generator=torch.Generator().manual_seed(0))
    values = loss(torch.nn.functional.one_hot(index, 5).double())
    se = values.std() / values.numel() ** 0.5
    assert abs(values.mean() - ha.expected_loss(LOGITS, loss)) < 4 * se


def test_reinforce_mean_is_within_4_standard_errors_of_exact():
    stats = ha.gradient_stats("REINFORCE", LOGITS, loss, 40_000, torch.Generator().manual_seed(0))
    assert (stats["z"].abs() < 4).all(), stats


def test_gradient_stats_detects_a_biased_estimator():
    # A deliberately wrong estimator (gradient doubled) must be flagged: the check can fail.
    def doubled(logits, f, *, generator=None):
        est = ha.reinforce(logits, f, generator=generator)
        return est._replace(surrogate=2 * est.surrogate)

    stats = ha.gradient_stats(doubled, LOGITS, loss, 40_000, torch.Generator().manual_seed(0))
    assert (stats["z"].abs() > 4).any()


def test_batched_and_looped_draws_agree_in_distribution():
    gen = torch.Generator().manual_seed(1)
    looped = ha.gradient_samples("REINFORCE", LOGITS, loss, 3000, gen, batched=False)
    batched = ha.gradient_samples("REINFORCE", LOGITS, loss, 3000, gen)
    se = (looped.var(0) / 3000 + batched.var(0) / 3000).sqrt()
    assert ((looped.mean(0) - batched.mean(0)).abs() < 4 * se).all()


def test_f_with_wrong_output_shape_is_rejected():
    with pytest.raises(ValueError, match="f must map"):
        ha.expected_loss(LOGITS, lambda z: z.sum())
