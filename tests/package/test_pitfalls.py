"""Pitfalls found in real REINFORCE code, each shown failing against the exact gradient.

Chapter 4. Tests of one pitfall share a prefix (``test_batch_mean_`` for the batch-mean
baseline that includes the sample) so that several pitfalls can live in this file.
"""

import torch

import hardattn_utils as ha

K, N, S = 6, 20_000, 4


def _problem():
    gen = torch.Generator().manual_seed(0)
    logits, values = torch.randn(K, generator=gen), torch.randn(K, generator=gen)
    return logits, lambda z: (z @ values - 1.0) ** 2 + 2.0


def _one_line_estimates(baseline):
    """N gradient estimates of the surrogate ``((f - b(f)) * log p).mean(0)`` as hand-written."""
    logits, f = _problem()
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
    logits, f = _problem()
    grads = []
    for est in (ha.mean_baseline_reinforce, ha.rloo):
        leaf = logits.expand(100, K).clone().requires_grad_(True)
        est(leaf, f, num_samples=S, generator=torch.Generator().manual_seed(2)).surrogate.backward()
        grads.append(leaf.grad)
    torch.testing.assert_close(grads[0], (S - 1) / S * grads[1])
