"""Estimator comparisons over seeds and at equal cost (chapters 5 and 6)."""

import functools

import pytest
import torch

import hardattn_utils as ha
from hardattn_utils import comparisons

LOGITS = torch.tensor([1.0, 0.0, -1.0])


def loss(z):
    return ((z - torch.tensor([0.0, 1.0, 0.0])) ** 2).sum(-1)


def test_seeded_stats_has_one_row_per_seed_and_coordinate():
    frame = comparisons.seeded_gradient_stats("REINFORCE", LOGITS, loss, 200, seeds=[0, 1, 2])
    assert frame["seed"].tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    again = comparisons.seeded_gradient_stats("REINFORCE", LOGITS, loss, 200, seeds=[0, 1, 2])
    assert frame.equals(again)  # each seed has its own generator


def test_pooled_mean_is_the_mean_of_every_draw():
    frame = comparisons.seeded_gradient_stats("RLOO", LOGITS, loss, 500, seeds=[3, 4])
    draws = torch.cat(
        [ha.gradient_samples("RLOO", LOGITS, loss, 500, torch.Generator().manual_seed(s)) for s in (3, 4)]
    ).double()
    pooled = comparisons.pooled_stats(frame)
    torch.testing.assert_close(torch.tensor(pooled["mean"].to_numpy()), draws.mean(0))
    expected_se = (draws.var(0) / len(draws)).sqrt()
    torch.testing.assert_close(torch.tensor(pooled["se"].to_numpy()), expected_se, rtol=0.02, atol=0)


def test_unbiased_estimator_has_no_detectable_bias_and_biased_one_has():
    rloo = comparisons.bias_variance(comparisons.seeded_gradient_stats("RLOO", LOGITS, loss, 4000))
    assert rloo["max |z|"] < 4.5 and rloo["cosine"] > 0.99
    gs = functools.partial(ha.gumbel_softmax_estimator, tau=2.0)
    relaxed = comparisons.bias_variance(comparisons.seeded_gradient_stats(gs, LOGITS, loss, 4000))
    assert relaxed["max |z|"] > 10 and relaxed["relative bias"] > 0.3


def test_equal_cost_divides_by_the_number_of_estimates():
    assert comparisons.equal_cost_variance(1.0, 1, 4) == 0.25
    assert comparisons.equal_cost_variance(0.8, 4, 4) == 0.8
    stats = comparisons.bias_variance(
        comparisons.seeded_gradient_stats("REINFORCE", LOGITS, loss, 300), evaluations=1, budget=4
    )
    assert stats["variance at budget"] == pytest.approx(stats["variance"] / 4)
    with pytest.raises(ValueError, match="multiple"):
        comparisons.equal_cost_variance(1.0, 4, 6)
