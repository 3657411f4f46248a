"""Gumbel-top-k (chapter 5): the law of ordered draws without replacement, exactly."""

import itertools

import pytest
import torch
from scipy import stats

import hardattn_utils as ha

LOGITS = torch.tensor([1.0, 0.3, -0.4, 0.0, -1.2])
DRAWS = 200_000


def ordered_law(logits: torch.Tensor, k: int) -> dict[tuple[int, ...], float]:
    """P(i_1, ..., i_k) of k successive draws without replacement, by enumeration."""
    weights = logits.double().exp()
    law = {}
    for tuple_ in itertools.permutations(range(len(logits)), k):
        p, left = 1.0, weights.sum().item()
        for i in tuple_:
            p *= weights[i].item() / left
            left -= weights[i].item()
        law[tuple_] = p
    return law


def fit(indices: torch.Tensor, law: dict) -> tuple[float, float]:
    """Pearson's p-value and the largest per-tuple |z| of the drawn tuples against ``law``."""
    counts = dict.fromkeys(law, 0)
    for row in map(tuple, indices.tolist()):
        counts[row] += 1  # a tuple outside the law (a repeat) raises KeyError
    observed = torch.tensor([counts[t] for t in law], dtype=torch.float64)
    expected = torch.tensor([law[t] for t in law], dtype=torch.float64) * len(indices)
    z = (observed - expected) / (expected * (1 - expected / len(indices))).sqrt()
    return stats.chisquare(observed.numpy(), expected.numpy()).pvalue, z.abs().max().item()


@pytest.mark.parametrize(("k", "seed"), [(1, 0), (2, 1), (3, 2), (3, 3)])
def test_gumbel_top_k_matches_the_law_of_ordered_draws(k, seed):
    # 5 positions: 5, 20 or 60 ordered tuples, each drawn thousands of times.
    law = ordered_law(LOGITS, k)
    assert abs(sum(law.values()) - 1) < 1e-12
    draws = ha.gumbel_top_k(LOGITS.expand(DRAWS, 5), k, generator=torch.Generator().manual_seed(seed))
    assert draws.shape == (DRAWS, k) and draws.dtype == torch.long
    p_value, z_max = fit(draws, law)
    assert p_value > 1e-4, p_value  # fixed seeds; a correct sampler fails 1 in 10^4
    assert z_max < 4.5, z_max  # every tuple within 4.5 se (60 tuples: P(fail) < 1e-3)


def test_the_same_test_rejects_noise_added_to_probabilities():
    # The pitfall of chapter 5: Gumbel noise on probabilities, not logits, is another law.
    law = ordered_law(LOGITS, 2)
    gen = torch.Generator().manual_seed(4)
    probs = torch.softmax(LOGITS, -1).expand(DRAWS, 5)
    wrong = (probs + ha.gumbel_noise(probs.shape, generator=gen)).topk(2, dim=-1).indices
    p_value, z_max = fit(wrong, law)
    assert p_value < 1e-12 and z_max > 10


def test_gumbel_top_k_first_index_is_gumbel_max_and_m_is_a_permutation():
    one = ha.gumbel_top_k(LOGITS.expand(1000, 5), 1, generator=torch.Generator().manual_seed(5))
    same = ha.gumbel_max_sample(LOGITS.expand(1000, 5), generator=torch.Generator().manual_seed(5))
    assert torch.equal(one[..., 0], same)
    full = ha.gumbel_top_k(LOGITS.expand(1000, 5), 5, generator=torch.Generator().manual_seed(6))
    assert torch.equal(full.sort(-1).values, torch.arange(5).expand(1000, 5))


def test_gumbel_top_k_never_draws_a_masked_position():
    logits = torch.tensor([[0.0, float("-inf"), 1.0, float("-inf"), -0.5]])
    draws = ha.gumbel_top_k(logits.expand(5000, 5), 3, generator=torch.Generator().manual_seed(7))
    assert set(draws.flatten().tolist()) == {0, 2, 4}


def test_gumbel_top_k_checks_its_arguments():
    with pytest.raises(TypeError, match="k"):
        ha.gumbel_top_k(LOGITS, 2.0)
    with pytest.raises(ValueError, match="k"):
        ha.gumbel_top_k(LOGITS, 6)
    with pytest.raises(ValueError, match="k"):
        ha.gumbel_top_k(LOGITS, 0)
    with pytest.raises(ValueError, match="logits"):
        ha.gumbel_top_k(torch.tensor([0.0, float("nan")]), 1)
    with pytest.raises(ValueError, match="finite"):
        ha.gumbel_top_k(torch.tensor([0.0, float("-inf"), 1.0]), 3)
