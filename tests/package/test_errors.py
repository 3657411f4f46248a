"""Bad input gets a clear error naming the argument; extreme input stays finite (DESIGN §3)."""

import pytest
import torch

import hardattn_utils as ha

SCORES = torch.tensor([[0.5, 1.0, -1.0]])
VALUES = torch.randn(1, 3, 2)


@pytest.mark.parametrize("tau", [0, 0.0, -1.0, float("nan"), float("inf")])
def test_bad_tau_raises_naming_tau(tau):
    with pytest.raises(ValueError, match="tau"):
        ha.gumbel_softmax(SCORES, tau=tau)


def test_non_numeric_tau_raises_type_error():
    with pytest.raises(TypeError, match="tau"):
        ha.gumbel_softmax(SCORES, tau="1.0")


@pytest.mark.parametrize(
    "call",
    [
        lambda x: ha.gumbel_softmax(x),
        lambda x: ha.gumbel_max_sample(x),
        lambda x: ha.soft_attention(x, VALUES),
        lambda x: ha.hard_attention(x, VALUES),
        lambda x: ha.reinforce(x, lambda z: z.sum(-1)),
        lambda x: ha.exact_gradient(x, lambda z: z.sum(-1)),
    ],
)
def test_nan_logits_raise(call):
    with pytest.raises(ValueError, match="NaN"):
        call(torch.tensor([[0.0, float("nan"), 1.0]]))


def test_positive_infinite_logits_raise():
    with pytest.raises(ValueError, match=r"\+inf"):
        ha.gumbel_max_sample(torch.tensor([0.0, float("inf")]))


def test_mask_row_that_selects_nothing_raises():
    mask = torch.tensor([[True, True, False], [False, False, False]])
    with pytest.raises(ValueError, match="mask"):
        ha.soft_attention(torch.zeros(2, 3), torch.zeros(2, 3, 1), mask=mask)
    with pytest.raises(ValueError, match="mask"):
        ha.gumbel_softmax(torch.zeros(2, 3), mask=mask)


def test_all_minus_inf_logits_raise_naming_logits():
    with pytest.raises(ValueError, match="logits"):
        ha.gumbel_max_sample(torch.full((3,), float("-inf")))


def test_non_bool_mask_raises_type_error():
    with pytest.raises(TypeError, match="mask"):
        ha.soft_attention(SCORES, VALUES, mask=torch.ones(3))


def test_mask_of_wrong_shape_raises():
    with pytest.raises(ValueError, match="mask"):
        ha.soft_attention(SCORES, VALUES, mask=torch.ones(4, dtype=torch.bool))


def test_scores_values_shape_mismatch_raises_naming_values():
    with pytest.raises(ValueError, match="values"):
        ha.soft_attention(SCORES, torch.randn(1, 4, 2))
    with pytest.raises(ValueError, match="values"):
        ha.hard_attention(SCORES, torch.randn(3))


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="mode"):
        ha.hard_attention(SCORES, VALUES, mode="soft")


def test_non_tensor_and_integer_scores_raise_type_error():
    with pytest.raises(TypeError, match="scores"):
        ha.soft_attention([0.5, 1.0, -1.0], VALUES)
    with pytest.raises(TypeError, match="logits"):
        ha.gumbel_softmax(torch.tensor([1, 2, 3]))


@pytest.mark.parametrize(("num_samples", "error"), [(0, ValueError), (1, ValueError), (2.5, TypeError)])
def test_rloo_needs_at_least_two_samples(num_samples, error):
    with pytest.raises(error, match="num_samples"):
        ha.rloo(torch.zeros(3), lambda z: z.sum(-1), num_samples=num_samples)


def test_out_of_range_dim_raises():
    with pytest.raises(ValueError, match="dim"):
        ha.gumbel_softmax(SCORES, dim=2)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("tau", [1e-3, 1.0, 100.0])
def test_extreme_logits_give_finite_samples(dtype, tau):
    logits = torch.tensor([[1e4, -1e4, 0.0, float("-inf")], [-1e4, -1e4, -1e4, 1e4]]).to(dtype)
    for hard in (False, True):
        y = ha.gumbel_softmax(logits, tau=tau, hard=hard, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(y).all() and (y[0, 3] == 0)
        torch.testing.assert_close(y.float().sum(-1), torch.ones(2), atol=1e-2, rtol=0)


def test_extreme_logits_give_finite_gradients():
    logits = torch.tensor([1e4, -1e4, 0.0]).requires_grad_()
    target = torch.tensor([0.0, 1.0, 0.0])
    for name, estimator in ha.ESTIMATORS.items():
        logits.grad = None
        estimator(
            logits, lambda z: ((z - target) ** 2).sum(-1), generator=torch.Generator().manual_seed(0)
        ).surrogate.backward()
        assert torch.isfinite(logits.grad).all(), name
