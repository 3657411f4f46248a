"""Pitfalls found in real code, each shown failing against the exact gradient (chapter 3).

A REINFORCE surrogate must detach the reward and the baseline inside the score term,
``f + (sg(f) − sg(b))·log p``. The tests measure the package's estimator (unbiased:
every coordinate of the mean of N estimates within 4 standard errors of the exact
gradient) and the undetached version (biased: its mean is far from the exact gradient
and close to the value the algebra predicts).
"""

import torch

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
