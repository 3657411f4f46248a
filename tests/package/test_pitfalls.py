"""Pitfalls found in real code, each shown failing against the exact gradient (chapter 3).

A REINFORCE surrogate must detach the reward and the baseline inside the score term,
``f + (sg(f) − sg(b))·log p``. The tests measure the package's estimator (unbiased:
every coordinate of the mean of N estimates within 4 standard errors of the exact
gradient) and the undetached version (biased: its mean is far from the exact gradient
and close to the value the algebra predicts).
"""

import torch
from scipy import stats

import hardattn_utils as ha

K, N = 6, 20_000


def _problem() -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(K, generator=gen), torch.randn(K, generator=gen)  # logits, values


def _mean_and_se(grads: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    return grads.mean(0), grads.std(0) / grads.shape[0] ** 0.5  # (K,), (K,)


def _reinforce_grads(logits, f, baseline_of) -> torch.Tensor:
    """N estimates (N, K) from ha.reinforce with a baseline built from the logits."""
    rows = logits.expand(N, K).clone().requires_grad_(True)  # (N, K)
    estimate = ha.reinforce(rows, f, baseline=baseline_of(rows), generator=torch.Generator().manual_seed(1))
    (grad,) = torch.autograd.grad(estimate.surrogate * N, rows)
    return grad


def _undetached_grads(logits, f, baseline_of) -> torch.Tensor:
    """The same draws through the wrong surrogate (f − b)·log p with b not detached."""
    rows = logits.expand(N, K).clone().requires_grad_(True)  # (N, K)
    index = ha.gumbel_max_sample(rows.detach(), generator=torch.Generator().manual_seed(1))
    z = torch.nn.functional.one_hot(index, K).float()  # (N, K)
    log_p = (z * torch.log_softmax(rows, -1)).sum(-1)  # (N,)
    (grad,) = torch.autograd.grad(((f(z) - baseline_of(rows)) * log_p).sum(), rows)
    return grad


def test_reinforce_undetached_baseline_is_biased_and_the_package_is_not():
    logits, values = _problem()

    def f(z):
        return (z @ values - 1.0) ** 2 + 2.0

    def baseline_of(rows):  # the expected loss: a good baseline that depends on logits
        return ha.expected_loss(rows, f)  # (N,)

    exact = ha.exact_gradient(logits, f)
    mean, se = _mean_and_se(_reinforce_grads(logits, f, baseline_of))
    assert ((mean - exact).abs() < 4 * se).all()
    wrong, wrong_se = _mean_and_se(_undetached_grads(logits, f, baseline_of))
    assert ((wrong - exact).abs() > 10 * wrong_se).any()
    # −E[log p(z)] ∇b = H(p) ∇L is added: the wrong mean is (1 + H) times the gradient
    entropy = ha.entropy(logits)
    assert ((wrong - (1 + entropy) * exact).abs() < 4 * wrong_se).all()


def test_reinforce_undetached_reward_trains_the_read_out_the_wrong_way():
    logits, values = _problem()
    params = values.clone().requires_grad_(True)  # (K,) values inside f, learned

    def f(z):
        return (z @ params - 1.0) ** 2 + 2.0

    (exact,) = torch.autograd.grad(ha.expected_loss(logits, f), params)
    rows = logits.expand(N, K)  # (N, K)
    right = ha.reinforce(rows, f, generator=torch.Generator().manual_seed(2)).surrogate
    (package,) = torch.autograd.grad(right, params)
    torch.testing.assert_close(package, exact, atol=0.05, rtol=0.05)  # pathwise, N draws
    z = torch.nn.functional.one_hot(
        ha.gumbel_max_sample(rows, generator=torch.Generator().manual_seed(2)), K
    ).float()  # (N, K)
    log_p = (z * torch.log_softmax(rows, -1)).sum(-1)  # (N,)
    (wrong,) = torch.autograd.grad((f(z) * log_p).mean(), params)  # reward not detached
    cosine = torch.nn.functional.cosine_similarity(wrong, exact, dim=0)
    assert cosine < 0  # log p < 0 flips the read-out's gradient


LOGITS = torch.tensor([2.0, 0.5, -1.0, 0.0])
DRAWS = 100_000


def test_gumbel_noise_added_to_probabilities_has_the_wrong_law():
    # Chapter 5: argmax(pi + g) is not a sample of pi; argmax(log pi + g) is.
    probs = torch.softmax(LOGITS.double(), -1)
    gen = torch.Generator().manual_seed(0)
    noise = ha.gumbel_noise((DRAWS, 4), dtype=torch.float64, generator=gen)
    expected = (DRAWS * probs).numpy()
    right = torch.bincount((probs.log() + noise).argmax(-1), minlength=4).numpy()
    wrong = torch.bincount((probs + noise).argmax(-1), minlength=4).numpy()
    assert stats.chisquare(right, expected).pvalue > 1e-4
    assert stats.chisquare(wrong, expected).pvalue < 1e-12
    # noise on probabilities flattens the law: the likeliest position is drawn too rarely
    assert wrong[0] / DRAWS < probs[0].item() - 0.1


def test_gumbel_textbook_noise_at_u_zero_is_infinite_and_poisons_the_softmax():
    # Chapter 5: -log(-log u) with u = 0 is -inf, with u rounding to 1 it is +inf.
    u = torch.tensor([0.0, 0.5, 1 - 2**-25], dtype=torch.float32)
    naive = -torch.log(-torch.log(u))
    assert naive[0] == float("-inf") and naive[2] == float("inf")
    y = torch.softmax(LOGITS[:3] + naive, -1)
    assert y.isnan().any()  # +inf - inf inside the softmax's shift


def test_gumbel_package_noise_is_finite_where_the_textbook_is_not():
    g = ha.gumbel_noise((1_000_000,), generator=torch.Generator().manual_seed(1))
    assert g.isfinite().all()
    y = ha.gumbel_softmax(LOGITS.expand(1000, 4), tau=0.01, generator=torch.Generator().manual_seed(2))
    assert y.isfinite().all()


K, N, S = 6, 20_000, 4


def _batch_mean_problem():
    gen = torch.Generator().manual_seed(0)
    logits, values = torch.randn(K, generator=gen), torch.randn(K, generator=gen)
    return logits, lambda z: (z @ values - 1.0) ** 2 + 2.0


def _one_line_estimates(baseline):
    """N gradient estimates of the surrogate ``((f - b(f)) * log p).mean(0)`` as hand-written."""
    logits, f = _batch_mean_problem()
    leaf = logits.expand(N, K).clone().requires_grad_(True)  # (N, K)
    z, log_p = ha.sample_one_hot(leaf, num_samples=S, generator=torch.Generator().manual_seed(1))
    loss = f(z).detach()  # (S, N)
    ((loss - baseline(loss)) * log_p).mean(0).sum().backward()
    return leaf.grad, ha.exact_gradient(logits, f)


def _largest_z(draws, exact):
    return ((draws.mean(0) - exact) / (draws.std(0) / len(draws) ** 0.5)).abs().max().item()


def test_batch_mean_including_the_sample_fails_against_the_exact_gradient():
    draws, exact = _one_line_estimates(lambda loss: loss.mean(0))
    assert _largest_z(draws, exact) > 5  # biased: the mean is (S - 1)/S of the gradient
    scale = (draws.mean(0) @ exact / (exact @ exact)).item()
    assert abs(scale - (S - 1) / S) < 0.03


def test_batch_mean_fixed_by_leave_one_out_passes():
    draws, exact = _one_line_estimates(ha.leave_one_out)
    assert _largest_z(draws, exact) < 4


def test_batch_mean_is_a_rescaled_rloo_sample_by_sample():
    logits, f = _batch_mean_problem()
    grads = []
    for est in (ha.mean_baseline_reinforce, ha.rloo):
        leaf = logits.expand(100, K).clone().requires_grad_(True)
        est(leaf, f, num_samples=S, generator=torch.Generator().manual_seed(2)).surrogate.backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], (S - 1) / S * grads[1])
