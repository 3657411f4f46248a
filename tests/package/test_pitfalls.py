"""Pitfalls found in real code, each shown failing beside the package's version."""

import torch
from scipy import stats

import hardattn_utils as ha

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
