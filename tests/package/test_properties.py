"""Property tests (hypothesis) of the public API on random shapes, masks, dtypes and extreme values.

Properties: outputs are finite and of the input's dtype, masked positions get weight exactly
0 and are never selected, ``dim`` is respected, the same generator seed gives the same output,
and bad input raises an error that names the argument. ``derandomize=True`` makes every run
draw the same examples, so CI is deterministic.
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hardattn_utils as ha

SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16]
#: rows of a softmax sum to one within this tolerance, per dtype of the output
SUM_TOL = {torch.float32: 1e-5, torch.float64: 1e-12, torch.float16: 1e-2, torch.bfloat16: 2e-2}


@st.composite
def problems(draw: st.DrawFn, max_dims: int = 3) -> dict:
    """logits (with extremes), a mask with a True in every row along ``dim``, and ``dim``."""
    shape = draw(st.lists(st.integers(1, 5), min_size=1, max_size=max_dims))
    dim = draw(st.integers(-len(shape), len(shape) - 1))
    dtype = draw(st.sampled_from(DTYPES))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scale = draw(st.sampled_from([1.0, 30.0, 1e4]))
    logits = scale * torch.randn(shape, generator=gen, dtype=torch.float64)
    if draw(st.booleans()):  # push some entries to the extremes ±1e4
        extreme = torch.rand(shape, generator=gen) < 0.3
        logits = torch.where(extreme, 1e4 * logits.sign(), logits)
    mask = None
    if draw(st.booleans()):
        mask = torch.rand(shape, generator=gen) < 0.5
        keep = torch.randint(shape[dim], [*shape[:dim], 1, *shape[dim:][1:]], generator=gen)
        mask.scatter_(dim, keep, True)  # every row along dim keeps one position
    elif draw(st.booleans()) and shape[dim] > 1:  # -inf logits are a mask too
        first = torch.zeros(shape, dtype=torch.bool).index_fill_(dim % len(shape), torch.tensor([0]), True)
        logits = logits.masked_fill(first, float("-inf"))
    return {"logits": logits.to(dtype), "mask": mask, "dim": dim, "seed": draw(st.integers(0, 1000))}


def _selectable(problem: dict) -> torch.Tensor:
    allowed = ~torch.isneginf(problem["logits"])
    return allowed if problem["mask"] is None else allowed & problem["mask"]


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@SETTINGS
@given(problems(), st.sampled_from([0.1, 0.5, 1.0, 3.0]), st.booleans())
def test_gumbel_softmax_is_finite_masked_normalised_along_dim_and_reproducible(problem, tau, hard):
    logits, mask, dim = problem["logits"], problem["mask"], problem["dim"]
    y = ha.gumbel_softmax(
        logits, tau=tau, hard=hard, dim=dim, mask=mask, generator=_generator(problem["seed"])
    )
    again = ha.gumbel_softmax(
        logits, tau=tau, hard=hard, dim=dim, mask=mask, generator=_generator(problem["seed"])
    )
    assert torch.equal(y, again)
    assert y.shape == logits.shape and y.dtype == logits.dtype
    assert torch.isfinite(y).all()
    assert (y[~_selectable(problem)] == 0).all()  # exactly zero where masked
    sums = y.double().sum(dim)
    assert torch.allclose(sums, torch.ones_like(sums), atol=SUM_TOL[y.dtype], rtol=0)
    if hard:
        assert set(y.unique().tolist()) <= {0.0, 1.0}
        assert (y.sum(dim) == 1).all()  # exactly one 1 along dim


@SETTINGS
@given(problems())
def test_gumbel_max_sample_never_selects_a_masked_position(problem):
    logits, mask = problem["logits"].movedim(problem["dim"], -1), problem["mask"]
    mask = None if mask is None else mask.movedim(problem["dim"], -1)
    index = ha.gumbel_max_sample(logits, mask=mask, generator=_generator(problem["seed"]))
    assert torch.equal(index, ha.gumbel_max_sample(logits, mask=mask, generator=_generator(problem["seed"])))
    assert index.shape == logits.shape[:-1] and index.dtype == torch.long
    selectable = _selectable(problem).movedim(problem["dim"], -1)
    assert selectable.gather(-1, index.unsqueeze(-1)).all()


@SETTINGS
@given(problems())
def test_masked_softmax_is_finite_exactly_zero_where_masked_and_respects_dim(problem):
    scores, mask, dim = problem["logits"], problem["mask"], problem["dim"]
    weights = ha.masked_softmax(scores, mask, dim=dim)
    assert weights.dtype == scores.dtype and torch.isfinite(weights).all()
    assert (weights[~_selectable(problem)] == 0).all()
    moved_mask = None if mask is None else mask.movedim(dim, -1)
    moved = ha.masked_softmax(scores.movedim(dim, -1), moved_mask).movedim(-1, dim)
    # softmax along an inner and an outer axis take different kernels: equal to rounding
    torch.testing.assert_close(weights, moved, rtol=1e-6, atol=1e-7)


@SETTINGS
@given(problems(max_dims=2), st.integers(1, 6), st.sampled_from(["argmax", "sample"]))
def test_attention_reads_are_finite_masked_and_hard_reads_copy_one_value(problem, d, mode):
    scores = problem["logits"].movedim(problem["dim"], -1)  # (B..., m)
    mask = None if problem["mask"] is None else problem["mask"].movedim(problem["dim"], -1)
    gen = _generator(problem["seed"])
    values = (1e4 * torch.randn(*scores.shape, d, generator=gen, dtype=torch.float64)).to(scores.dtype)
    context, weights = ha.soft_attention(scores, values, mask)
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()
    selectable = _selectable(problem).movedim(problem["dim"], -1)
    assert (weights[~selectable] == 0).all()
    hard, index = ha.hard_attention(scores, values, mask, mode=mode, generator=_generator(problem["seed"]))
    assert selectable.gather(-1, index.unsqueeze(-1)).all()
    assert torch.equal(hard, values.gather(-2, index[..., None, None].expand(*index.shape, 1, d)).squeeze(-2))
    again, _ = ha.hard_attention(scores, values, mask, mode=mode, generator=_generator(problem["seed"]))
    assert torch.equal(hard, again)


def _loss(z: torch.Tensor) -> torch.Tensor:
    weights = torch.linspace(-1.0, 1.0, z.shape[-1], dtype=z.dtype)
    return (z * weights).sum(-1) + (z**2).sum(-1)


@SETTINGS
@given(problems(max_dims=2), st.sampled_from(["reinforce", "rloo"]))
def test_score_function_estimators_give_finite_reproducible_gradients(problem, name):
    logits = problem["logits"].movedim(problem["dim"], -1)
    if problem["mask"] is not None:  # estimators take masks as -inf logits
        logits = logits.masked_fill(~problem["mask"].movedim(problem["dim"], -1), float("-inf"))
    grads = []
    for _ in range(2):
        leaf = logits.detach().clone().requires_grad_(True)
        estimate = getattr(ha, name)(leaf, _loss, generator=_generator(problem["seed"]))
        assert torch.isfinite(estimate.surrogate) and torch.isfinite(estimate.loss).all()
        estimate.surrogate.backward()
        grads.append(leaf.grad)
    assert torch.isfinite(grads[0]).all() and torch.equal(grads[0], grads[1])
    assert (grads[0][torch.isneginf(logits)] == 0).all()  # no signal reaches an impossible category


@SETTINGS
@given(problems(max_dims=2))
def test_exact_expectation_and_gradient_are_finite(problem):
    logits = problem["logits"].movedim(problem["dim"], -1)
    if logits.dtype in (torch.float16, torch.bfloat16):
        logits = logits.float()  # enumeration is a reference computation: float32 or better
    value = ha.expected_loss(logits, _loss)
    grad = ha.exact_gradient(logits, _loss)
    assert value.shape == logits.shape[:-1] and torch.isfinite(value).all()
    assert grad.shape == logits.shape and torch.isfinite(grad).all()
    assert (grad[torch.isneginf(logits)] == 0).all()


# ---------------------------------------------------------------- errors name the argument

BAD_TAUS = st.one_of(
    st.floats(max_value=0.0, allow_nan=False),
    st.just(math.nan),
    st.just(math.inf),
    st.just(-math.inf),
)


@SETTINGS
@given(BAD_TAUS, st.booleans())
def test_bad_tau_raises_naming_tau(tau, hard):
    with pytest.raises(ValueError, match="tau"):
        ha.gumbel_softmax(torch.zeros(2, 3), tau=tau, hard=hard)


@pytest.mark.parametrize("tau", ["1", None, True, [1.0]])
def test_non_numeric_tau_raises_type_error_naming_tau(tau):
    with pytest.raises(TypeError, match="tau"):
        ha.gumbel_softmax(torch.zeros(2, 3), tau=tau)


CALLS_ON_LOGITS = {
    "gumbel_softmax": lambda x, **kw: ha.gumbel_softmax(x, **kw),
    "gumbel_max_sample": lambda x, **kw: ha.gumbel_max_sample(x, **kw),
    "masked_softmax": lambda x, **kw: ha.masked_softmax(x, **kw),
    "soft_attention": lambda x, **kw: ha.soft_attention(x, torch.zeros(*x.shape, 2, dtype=x.dtype), **kw),
    "hard_attention": lambda x, **kw: ha.hard_attention(x, torch.zeros(*x.shape, 2, dtype=x.dtype), **kw),
}
NAME_OF_SCORES = {"masked_softmax": "scores", "soft_attention": "scores", "hard_attention": "scores"}


@SETTINGS
@given(problems(max_dims=2), st.sampled_from(sorted(CALLS_ON_LOGITS)), st.data())
def test_nan_anywhere_raises_naming_the_argument(problem, call, data):
    logits = problem["logits"].movedim(problem["dim"], -1).clone(memory_format=torch.contiguous_format)
    flat = data.draw(st.integers(0, logits.numel() - 1))
    logits.view(-1)[flat] = math.nan  # also where a mask would hide it
    mask = None if problem["mask"] is None else problem["mask"].movedim(problem["dim"], -1)
    name = NAME_OF_SCORES.get(call, "logits")
    with pytest.raises(ValueError, match=f"{name} contains NaN"):
        CALLS_ON_LOGITS[call](logits, mask=mask)


@SETTINGS
@given(problems(max_dims=2), st.sampled_from(sorted(CALLS_ON_LOGITS)), st.data())
def test_a_row_with_nothing_selectable_raises_naming_the_mask(problem, call, data):
    logits = problem["logits"].movedim(problem["dim"], -1)
    mask = torch.ones(logits.shape, dtype=torch.bool)
    row = data.draw(st.integers(0, mask[..., 0].numel() - 1))
    mask.view(-1, logits.shape[-1])[row] = False
    with pytest.raises(ValueError, match="mask leaves a row with no selectable position"):
        CALLS_ON_LOGITS[call](logits, mask=mask)


@pytest.mark.parametrize("call", sorted(CALLS_ON_LOGITS))
@pytest.mark.parametrize("mask", [torch.ones(2, 3, dtype=torch.uint8), torch.ones(2, 3), [[True] * 3] * 2])
def test_non_bool_mask_raises_type_error_naming_mask(call, mask):
    with pytest.raises(TypeError, match="mask"):
        CALLS_ON_LOGITS[call](torch.zeros(2, 3), mask=mask)


@pytest.mark.parametrize("call", sorted(CALLS_ON_LOGITS))
def test_mask_of_the_wrong_shape_raises_naming_mask(call):
    with pytest.raises(ValueError, match="mask of shape"):
        CALLS_ON_LOGITS[call](torch.zeros(2, 3), mask=torch.ones(2, 4, dtype=torch.bool))


@SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))
def test_values_of_the_wrong_length_raise_naming_values(m, wrong, d):
    wrong = wrong if wrong != m else m + 1
    for read in (ha.soft_attention, ha.hard_attention):
        with pytest.raises(ValueError, match="values"):
            read(torch.zeros(3, m), torch.zeros(3, wrong, d))


@SETTINGS
@given(st.text(max_size=8).filter(lambda s: s not in ("argmax", "sample")))
def test_unknown_mode_raises_naming_mode(mode):
    with pytest.raises(ValueError, match="mode"):
        ha.hard_attention(torch.zeros(2, 3), torch.zeros(2, 3, 4), mode=mode)


@pytest.mark.parametrize(
    ("num_samples", "error"),
    [(0, ValueError), (1, ValueError), (-3, ValueError), (2.0, TypeError), (True, TypeError)],
)
def test_rloo_needs_two_or_more_samples(num_samples, error):
    with pytest.raises(error, match="num_samples"):
        ha.rloo(torch.zeros(3), _loss, num_samples=num_samples)


@pytest.mark.parametrize("dim", [2, -3, 1.0])
def test_bad_dim_raises_naming_dim(dim):
    with pytest.raises((ValueError, TypeError), match="dim"):
        ha.gumbel_softmax(torch.zeros(2, 3), dim=dim)


def test_overflowing_temperature_stays_finite_where_pytorch_returns_nan():
    logits = torch.tensor([[1e30, 0.0, -1e30], [-1e30, -1e30, -1e30]])
    y = ha.gumbel_softmax(logits, tau=1e-10, generator=_generator(0))
    assert torch.isfinite(y).all() and torch.equal(y[0], torch.tensor([1.0, 0.0, 0.0]))
    assert torch.isnan(torch.nn.functional.gumbel_softmax(logits, tau=1e-10)).all()  # the failure we avoid
