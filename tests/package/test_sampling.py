"""Gumbel noise, Gumbel-max and Gumbel-Softmax (chapter 5)."""

import pytest
import torch
from scipy import stats

import hardattn_utils as ha

LOGITS = torch.tensor([1.2, 0.8, 0.5, -0.2, 0.3])


def test_gumbel_noise_is_finite_and_standard():
    g = ha.gumbel_noise((200_000,), generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(g).all()
    # Gumbel(0, 1): mean = Euler-Mascheroni 0.5772, variance = pi^2 / 6 = 1.6449.
    se_mean = (1.6449 / g.numel()) ** 0.5
    assert abs(g.mean().item() - 0.5772) < 4 * se_mean
    assert abs(g.var().item() - 1.6449) < 0.03


def test_gumbel_noise_follows_the_gumbel_law_in_every_dtype_kolmogorov_smirnov():
    # Noise from a double-precision uniform, cast to the dtype: the KS distance to the
    # Gumbel CDF at 200k draws is far below 1.95 / sqrt(n) (the 0.1 % critical value).
    for dtype in (torch.float64, torch.float32):
        g = ha.gumbel_noise((200_000,), dtype=dtype, generator=torch.Generator().manual_seed(3))
        assert stats.kstest(g.double().numpy(), "gumbel_r").pvalue > 1e-3
    shifted = ha.gumbel_noise((200_000,), generator=torch.Generator().manual_seed(3)) + 0.05
    assert stats.kstest(shifted.double().numpy(), "gumbel_r").pvalue < 1e-6


def test_gumbel_noise_stays_finite_at_the_uniform_draw_s_extremes(monkeypatch):
    # torch's uniform_(a, b) returns a + k 2^-53 (b - a) for 0 <= k < 2^53; its two extremes
    # (k = 0 and k = 2^53 - 1) are the draws that would give infinite noise from U(0, 1).
    def extremes(self, a=0.0, b=1.0, *, generator=None):
        ends = torch.tensor([a, a + (1.0 - 2.0**-53) * (b - a)], dtype=torch.float64)
        return self.copy_(ends.repeat(self.numel() // 2).reshape(self.shape))

    monkeypatch.setattr(torch.Tensor, "uniform_", extremes)
    for dtype in (torch.float64, torch.float32, torch.float16):
        g = ha.gumbel_noise((4,), dtype=dtype)
        assert torch.isfinite(g).all(), dtype
        assert ha.gumbel_softmax(torch.zeros(2, 2, dtype=dtype), tau=0.1).isfinite().all()


def test_torch_uniform_draws_never_reach_zero_or_one_in_double_precision():
    u = torch.empty(1_000_000, dtype=torch.float64).uniform_(torch.finfo(torch.float64).tiny, 1.0)
    assert u.min() > 0 and u.max() < 1


def test_gumbel_noise_half_precision_is_finite():
    for dtype in (torch.float16, torch.bfloat16):
        g = ha.gumbel_noise((100_000,), dtype=dtype, generator=torch.Generator().manual_seed(1))
        assert g.dtype == dtype and torch.isfinite(g).all()


def test_gumbel_max_frequencies_match_softmax_chi_square():
    draws = 100_000
    gen = torch.Generator().manual_seed(0)
    index = ha.gumbel_max_sample(LOGITS.expand(draws, 5), generator=gen)
    observed = torch.bincount(index, minlength=5).numpy()
    expected = torch.softmax(LOGITS.double(), -1).numpy() * draws
    statistic, p_value = stats.chisquare(observed, expected)
    # 4 degrees of freedom; a correct sampler fails this at the 0.1 % level once in 1000 seeds.
    assert p_value > 1e-3, (statistic, p_value)


def test_gumbel_max_detects_a_wrong_distribution():
    # The same chi-square test rejects samples drawn from different logits (so it can fail).
    index = ha.gumbel_max_sample(
        (LOGITS * 1.1).expand(100_000, 5), generator=torch.Generator().manual_seed(0)
    )
    expected = torch.softmax(LOGITS.double(), -1).numpy() * 100_000
    assert stats.chisquare(torch.bincount(index, minlength=5).numpy(), expected).pvalue < 1e-3


def test_masked_positions_never_selected_in_100k_draws():
    mask = torch.tensor([True, False, True, False, True])
    logits = torch.tensor([-3.0, 5.0, -2.0, 8.0, -4.0])
    index = ha.gumbel_max_sample(
        logits.expand(100_000, 5), mask=mask, generator=torch.Generator().manual_seed(2)
    )
    counts = torch.bincount(index, minlength=5)
    assert counts[1] == 0 and counts[3] == 0
    assert (counts[[0, 2, 4]] > 0).all()


def test_masked_gumbel_softmax_puts_exact_zero_on_masked():
    mask = torch.tensor([[True, False, True], [False, True, True]])
    y = ha.gumbel_softmax(torch.zeros(2, 3), tau=0.5, mask=mask, generator=torch.Generator().manual_seed(0))
    assert (y[~mask] == 0).all()
    torch.testing.assert_close(y.sum(-1), torch.ones(2))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16, torch.bfloat16])
def test_hard_gumbel_softmax_is_exact_one_hot(dtype):
    logits = torch.randn(500, 7, generator=torch.Generator().manual_seed(3)).to(dtype)
    y = ha.gumbel_softmax(logits, tau=0.7, hard=True, generator=torch.Generator().manual_seed(4))
    assert y.dtype == dtype
    assert ((y == 0) | (y == 1)).all()
    assert (y.sum(-1) == 1).all()


def test_hard_gumbel_softmax_has_the_soft_samples_gradient():
    weights = torch.randn(6, generator=torch.Generator().manual_seed(5))
    grads = []
    for hard in (False, True):
        logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(6)).requires_grad_()
        y = ha.gumbel_softmax(logits, tau=0.5, hard=hard, generator=torch.Generator().manual_seed(7))
        (y * weights).sum().backward()
        grads.append(logits.grad)
    torch.testing.assert_close(grads[0], grads[1])
    assert grads[1].abs().sum() > 0


def test_gumbel_softmax_respects_dim():
    logits = torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(8))
    y = ha.gumbel_softmax(logits, dim=1, hard=True, generator=torch.Generator().manual_seed(9))
    assert (y.sum(1) == 1).all()


def test_straight_through_forward_is_bit_exact_and_backward_is_soft():
    y_soft = torch.softmax(
        torch.randn(1000, 9, generator=torch.Generator().manual_seed(10)), -1
    ).requires_grad_()
    y_hard = ha.one_hot(y_soft.argmax(-1), 9)
    out = ha.straight_through(y_hard, y_soft)
    assert torch.equal(out, y_hard)
    out.sum().backward()
    torch.testing.assert_close(y_soft.grad, torch.ones_like(y_soft))


def test_same_generator_seed_same_samples():
    a = ha.gumbel_softmax(LOGITS, generator=torch.Generator().manual_seed(11))
    b = ha.gumbel_softmax(LOGITS, generator=torch.Generator().manual_seed(11))
    assert torch.equal(a, b)


BAD_ROWS = {
    "nan": ([[0.0, float("nan")], [1.0, 2.0]], "NaN|nan"),
    "plus-inf": ([[0.0, float("inf")], [1.0, 2.0]], "inf"),
    "all-masked": ([[float("-inf"), float("-inf")], [1.0, 2.0]], "no selectable"),
}


@pytest.mark.parametrize("hard", [False, True])
@pytest.mark.parametrize("case", sorted(BAD_ROWS))
def test_logits_that_require_grad_are_checked_after_the_sample_with_the_same_errors(case, hard):
    rows, message = BAD_ROWS[case]
    for grad in (False, True):
        logits = torch.tensor(rows).requires_grad_(grad)
        with pytest.raises(ValueError, match=message):
            ha.gumbel_softmax(logits, tau=0.5, hard=hard, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("tau, overflows", [(1.0, False), (0.5, False), (1e-3, False), (1e-37, True)])
def test_a_sample_with_gradient_equals_the_sample_without_and_overflow_falls_back(
    tau, overflows, monkeypatch
):
    # At tau = 1e-37, 1 / tau is representable (the checked-after path is taken) but
    # (l + g) / tau overflows float32: the NaN sample sends the same noise to the fallback.
    checks = []
    bound = ha.sampling.logits_bound
    monkeypatch.setattr(ha.sampling, "logits_bound", lambda *a: checks.append(a) or bound(*a))
    logits = 100 * torch.tensor([[0.0, 3.0, -1.0], [2.0, 2.0, float("-inf")]] * 32)
    plain = ha.gumbel_softmax(logits, tau=tau, generator=torch.Generator().manual_seed(4))
    leaf = logits.clone().requires_grad_(True)
    checks.clear()
    y = ha.gumbel_softmax(leaf, tau=tau, generator=torch.Generator().manual_seed(4))
    assert len(checks) == int(overflows)  # the logits are checked only when the sample is NaN
    torch.testing.assert_close(y.detach(), plain, rtol=1e-5, atol=1e-6)
    assert torch.isfinite(y).all() and torch.equal(y.detach()[1::2, 2], torch.zeros(32))
    (y * torch.arange(3.0)).sum().backward()
    assert torch.isfinite(leaf.grad[:, :2]).all()
