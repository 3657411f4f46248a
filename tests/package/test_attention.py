"""Soft and hard attention reads (chapter 1)."""

import torch

import hardattn_utils as ha


def _batch(seed=0, b=4, m=6, d=3):
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(b, m, generator=gen), torch.randn(b, m, d, generator=gen)


def test_hard_attention_returns_exactly_the_selected_value():
    scores, values = _batch()
    for mode in ("argmax", "sample"):
        context, index = ha.hard_attention(
            scores, values, mode=mode, generator=torch.Generator().manual_seed(1)
        )
        assert index.shape == (4,) and index.dtype == torch.long
        assert torch.equal(context, values[torch.arange(4), index])


def test_argmax_picks_the_highest_score():
    scores, values = _batch()
    _, index = ha.hard_attention(scores, values)
    assert torch.equal(index, scores.argmax(-1))


def test_hard_attention_broadcasts_shared_values():
    scores = torch.randn(5, 4, generator=torch.Generator().manual_seed(2))
    values = torch.randn(4, 2, generator=torch.Generator().manual_seed(3))
    context, index = ha.hard_attention(scores, values)
    assert torch.equal(context, values[index])


def test_soft_attention_is_the_weighted_blend():
    scores, values = _batch()
    context, weights = ha.soft_attention(scores, values)
    torch.testing.assert_close(weights, torch.softmax(scores, -1))
    torch.testing.assert_close(context, torch.einsum("bm,bmd->bd", weights, values))


def test_masks_are_respected_by_both_reads():
    scores, values = _batch()
    scores[:, 0] = 100.0  # the best position is masked out
    mask = torch.ones(6, dtype=torch.bool)
    mask[0] = False
    _, weights = ha.soft_attention(scores, values, mask=mask)
    assert (weights[:, 0] == 0).all()
    _, index = ha.hard_attention(scores, values, mask=mask)
    assert (index != 0).all()


def test_extreme_scores_stay_finite():
    scores = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    values = torch.randn(2, 3, 2)
    context, weights = ha.soft_attention(scores, values)
    assert torch.isfinite(context).all() and torch.isfinite(weights).all()
    torch.testing.assert_close(weights.sum(-1), torch.ones(2))


def test_half_precision_reads_are_finite():
    for dtype in (torch.float16, torch.bfloat16):
        scores = torch.tensor([[1e4, -1e4, 3.0]]).to(dtype)
        values = torch.randn(1, 3, 4).to(dtype)
        mask = torch.tensor([False, True, True])
        context, weights = ha.soft_attention(scores, values, mask=mask)
        assert context.dtype == dtype and torch.isfinite(context).all()
        assert weights[0, 0] == 0
        hard, index = ha.hard_attention(scores, values, mask=mask)
        assert index.item() == 2 and torch.equal(hard[0], values[0, 2])


def test_gradient_reaches_values_but_not_scores_through_hard_read():
    scores, values = _batch()
    scores.requires_grad_()
    values.requires_grad_()
    context, index = ha.hard_attention(scores, values)
    context.sum().backward()
    assert scores.grad is None
    picked = torch.zeros(4, 6, dtype=torch.bool)
    picked[torch.arange(4), index] = True
    assert (values.grad[picked] == 1).all() and (values.grad[~picked] == 0).all()
