"""Statistical and unit tests of the variance-reduction tools (chapter 4).

Unbiasedness: every coordinate of the mean of N estimates lies within 4
standard errors of the exact gradient (enumeration); with 8 coordinates a correct
estimator fails this by chance with probability below 1e-3.
"""

from functools import partial

import pytest
import torch

import hardattn_utils as ha

K, N = 6, 20_000


@pytest.fixture
def problem():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(K, generator=gen)
    values = torch.randn(K, generator=gen)

    def f(z):
        return (z @ values - 1.0) ** 2 + 2.0  # not linear in z, mean far from 0

    return logits, f


def stats(estimator, logits, f, seed=1, num_draws=N):
    return ha.gradient_stats(estimator, logits, f, num_draws, generator=torch.Generator().manual_seed(seed))


UNBIASED = {
    "RLOO": partial(ha.rloo, num_samples=4),
    "self-critical": partial(ha.self_critical, num_samples=2),
    "optimal (leave-one-out)": partial(ha.optimal_baseline_reinforce, num_samples=4),
    "control variate, c estimated": partial(ha.control_variate, num_samples=3, c=None),
    "control variate, c = 1": partial(ha.control_variate, num_samples=1, c=1.0),
    "control variate, c estimated, leave-one-out": partial(
        ha.control_variate, num_samples=3, c=None, leave_one_out=True
    ),
    "control variate (registry)": ha.ESTIMATORS["control variate"],
    "learned baseline": ha.LearnedBaseline(),
    "moving average": ha.MovingAverageBaseline(0.9, initial=3.0),
}


@pytest.mark.parametrize("name", list(UNBIASED))
def test_unbiased_within_four_standard_errors(problem, name):
    frame = stats(UNBIASED[name], *problem)
    assert frame["z"].abs().max() < 4, frame[["exact", "mean", "se", "z"]]


def test_batch_mean_including_the_sample_is_biased_by_k_minus_1_over_k(problem):
    k = 4
    frame = stats(partial(ha.mean_baseline_reinforce, num_samples=k), *problem)
    scaled = frame["exact"] * (k - 1) / k
    assert ((frame["mean"] - scaled).abs() / frame["se"]).max() < 4
    assert frame["z"].abs().max() > 10  # and clearly not the exact gradient


def test_moving_average_uses_the_value_before_its_update(problem):
    logits, f = problem
    tracker = ha.MovingAverageBaseline(decay=0.5)
    tracker.update(torch.tensor([3.0, 5.0]))
    before = tracker.value
    assert before == pytest.approx(4.0)  # bias-corrected: one update gives the mean itself
    leaf = logits.clone().requires_grad_(True)
    estimate = tracker(leaf, f, num_samples=8, generator=torch.Generator().manual_seed(3))
    estimate.surrogate.backward()
    ref_leaf = logits.clone().requires_grad_(True)
    ref = ha.reinforce(
        ref_leaf, f, baseline=before, num_samples=8, generator=torch.Generator().manual_seed(3)
    )
    ref.surrogate.backward()
    torch.testing.assert_close(leaf.grad, ref_leaf.grad)
    raw = 0.5 * 0.5 * 4.0 + 0.5 * estimate.loss.mean().item()  # the update happens afterwards
    assert tracker.value == pytest.approx(raw / (1 - 0.5**2))


def test_optimal_baseline_has_lower_variance_than_none(problem):
    logits, f = problem
    plain = stats(partial(ha.reinforce, num_samples=4), logits, f)
    exact_b = partial(ha.optimal_baseline_reinforce, num_samples=4, baseline=ha.optimal_baseline(logits, f))
    best = stats(exact_b, logits, f)
    estimated = stats(partial(ha.optimal_baseline_reinforce, num_samples=4), logits, f)
    assert best["z"].abs().max() < 4
    assert best["variance"].sum() < 0.2 * plain["variance"].sum()
    assert estimated["variance"].sum() < 0.5 * plain["variance"].sum()


def test_optimal_baseline_minimises_each_coordinates_variance(problem):
    logits, f = problem
    b_star = ha.optimal_baseline(logits, f)
    probs = torch.softmax(logits, -1)
    eye = torch.eye(K)
    losses = f(eye)
    score = eye - probs  # (K outcomes, K coordinates)

    def second_moment(b):  # E[((f - b_k) s_k)^2] per coordinate, exact
        return (probs[:, None] * ((losses[:, None] - b) * score) ** 2).sum(0)

    for shift in (-0.1, 0.1):
        assert (second_moment(b_star) < second_moment(b_star + shift)).all()


def test_entropy_gradient_matches_autograd():
    logits = torch.randn(5, K, generator=torch.Generator().manual_seed(4), requires_grad=True)
    ha.entropy(logits).sum().backward()
    torch.testing.assert_close(ha.entropy_gradient(logits), logits.grad)
    leaf = logits.detach().clone().requires_grad_(True)
    ha.entropy_bonus(leaf, 0.3).backward()
    torch.testing.assert_close(leaf.grad, -0.3 * logits.grad / 5)


def test_entropy_is_finite_with_masked_categories():
    logits = torch.tensor([[0.0, float("-inf"), 1.0], [2.0, 0.0, float("-inf")]])
    assert torch.isfinite(ha.entropy(logits)).all()
    assert torch.isfinite(ha.entropy_gradient(logits)).all()
    assert torch.isfinite(ha.entropy_bonus(logits, 0.1))
    uniform = torch.zeros(4)
    assert ha.entropy(uniform).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


def test_control_variate_with_a_linear_loss_is_exact():
    """If f is linear in z, h = f and c = 1 leaves no noise at all."""
    gen = torch.Generator().manual_seed(5)
    logits, values = torch.randn(K, generator=gen), torch.randn(K, generator=gen)
    frame = stats(
        partial(ha.control_variate, c=1.0, num_samples=1), logits, lambda z: z @ values, num_draws=64
    )
    assert frame["variance"].max() < 1e-10
    torch.testing.assert_close(torch.tensor(frame["mean"].values), torch.tensor(frame["exact"].values))


def test_learned_baseline_trains_towards_the_mean_loss(problem):
    logits, f = problem
    baseline = ha.LearnedBaseline()
    optimizer = torch.optim.Adam(baseline.parameters(), lr=0.1)
    gen = torch.Generator().manual_seed(6)
    for _ in range(100):
        optimizer.zero_grad()
        baseline(logits.expand(64, K), f, generator=gen).surrogate.backward()
        optimizer.step()
    target = ha.expected_loss(logits, f).item()
    assert baseline.predict(logits).item() == pytest.approx(target, rel=0.1)


def test_registry_and_bad_input(problem):
    logits, f = problem
    for name in ("REINFORCE + moving average", "REINFORCE + self-critical", "REINFORCE + learned baseline"):
        assert name in ha.ESTIMATORS and name in ha.ESTIMATOR_COLORS
    assert "control variate" in ha.ESTIMATORS and "REINFORCE + optimal baseline" in ha.ESTIMATORS
    with pytest.raises(ValueError, match="num_samples"):
        ha.optimal_baseline_reinforce(logits, f, num_samples=1)
    with pytest.raises(ValueError, match="num_samples"):
        ha.control_variate(logits, f, num_samples=1, c=None)
    with pytest.raises(ValueError, match="beta"):
        ha.entropy_bonus(logits, -1.0)
    with pytest.raises(ValueError, match="decay"):
        ha.MovingAverageBaseline(1.0)
    with pytest.raises(TypeError, match="c must"):
        ha.control_variate(logits, f, c="optimal")
    with pytest.raises(ValueError, match="logits"):
        ha.self_critical(torch.tensor([0.0, float("nan")]), f)
