"""Seeds with spread: over_seeds, spread, mean_se and SeedStack (chapter 3)."""

import pandas as pd
import pytest
import torch
from torch import nn

import hardattn_utils as ha


def test_over_seeds_stacks_rows_with_a_seed_column():
    frame = ha.over_seeds(lambda s: {"x": float(s), "y": 2.0 * s}, seeds=[3, 4, 5])
    assert list(frame.columns) == ["seed", "x", "y"]
    assert frame["seed"].tolist() == [3, 4, 5] and frame["y"].tolist() == [6.0, 8.0, 10.0]


def test_spread_gives_mean_standard_error_and_range_per_group():
    frame = pd.DataFrame({"g": ["a"] * 4 + ["b"] * 4, "v": [1.0, 2.0, 3.0, 4.0, 5.0, 5.0, 5.0, 5.0]})
    stats = ha.spread(frame, "v", by="g")
    assert stats.loc["a", "n"] == 4 and stats.loc["a", "mean"] == 2.5
    assert stats.loc["a", "se"] == pytest.approx(1.2909944 / 2)
    assert (stats.loc["b", ["se", "min", "max"]].tolist()) == [0.0, 5.0, 5.0]
    with pytest.raises(ValueError, match="value"):
        ha.spread(frame, "w")


def test_mean_se_formats_and_needs_two_values():
    assert ha.mean_se([1.0, 2.0, 3.0], digits=2) == "2.00 ± 0.58 (1.00–3.00)"
    with pytest.raises(ValueError):
        ha.mean_se([1.0])


def test_seeds_needs_at_least_five():
    assert ha.seeds() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match=r"quick must be an int in \[5"):
        ha.seeds(3)


def test_seed_stack_copies_start_as_models_built_alone_and_train_exactly_as_apart():
    make = lambda: nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 1))  # noqa: E731
    x, y = torch.randn(32, 3), torch.randn(32, 1)
    stack = ha.SeedStack(make, seeds=[0, 1, 2])
    optimiser = torch.optim.Adam(stack.parameters(), lr=0.05)
    for _ in range(20):
        loss = ((stack.apply(lambda m, x: m(x), x) - y) ** 2).mean(dim=(1, 2)).sum()  # sum over copies
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    for index, seed in enumerate([0, 1, 2]):
        torch.manual_seed(seed)
        alone = make()
        alone_opt = torch.optim.Adam(alone.parameters(), lr=0.05)
        for _ in range(20):
            alone_loss = ((alone(x) - y) ** 2).mean()
            alone_opt.zero_grad()
            alone_loss.backward()
            alone_opt.step()
        copy = stack.copy_of(index)
        torch.testing.assert_close(copy(x), alone(x), rtol=1e-5, atol=1e-6)


def test_seed_stack_maps_per_seed_inputs_and_checks_in_dims():
    stack = ha.SeedStack(lambda: nn.Linear(2, 1), seeds=[0, 1])
    per_seed = torch.randn(2, 5, 2)
    out = stack.apply(lambda m, x: m(x), per_seed, in_dims=[0])
    assert out.shape == (2, 5, 1)
    torch.testing.assert_close(out[1], stack.copy_of(1)(per_seed[1]))
    with pytest.raises(ValueError, match="in_dims"):
        stack.apply(lambda m, x: m(x), per_seed, in_dims=[0, None])
