"""Tests of the cluttered canvases and the glimpse network (chapter 11)."""

import pytest
import torch

import hardattn_utils as ha
from hardattn_utils.apps.canvases import Canvases, all_glimpses, extract_glimpse, grid_size


def _digits(n: int = 20) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return torch.rand(n, 8, 8, generator=gen), torch.randint(10, (n,), generator=gen)


def test_canvases_are_reproducible_and_digit_is_where_stated():
    digits, labels = _digits()
    make = lambda: ha.cluttered_canvases(  # noqa: E731
        digits, labels, 30, canvas_size=24, generator=torch.Generator().manual_seed(5)
    )
    a, b = make(), make()
    torch.testing.assert_close(a.images, b.images, rtol=0, atol=0)
    assert torch.equal(a.positions, b.positions) and torch.equal(a.labels, b.labels)
    for image, label, (r, c) in zip(a.images, a.labels, a.positions.tolist(), strict=True):
        matches = [(image[r : r + 8, c : c + 8] == d).all().item() for d in digits]
        assert any(matches) and label in labels[torch.tensor(matches)]
        assert r % 4 == 0 and c % 4 == 0
    assert (a.images.sum((1, 2)) > 0).all()
    other = ha.cluttered_canvases(
        digits, labels, 30, canvas_size=24, generator=torch.Generator().manual_seed(6)
    )
    assert not torch.equal(a.images, other.images)


def test_clutter_is_present_outside_the_digit():
    digits, labels = _digits()
    canvases = ha.cluttered_canvases(
        digits, labels, 20, canvas_size=32, num_clutter=6, generator=torch.Generator().manual_seed(1)
    )
    outside = canvases.images.clone()
    for image, (r, c) in zip(outside, canvases.positions.tolist(), strict=True):
        image[r : r + 8, c : c + 8] = 0
    assert (outside.sum((1, 2)) > 0).float().mean() > 0.8


@pytest.mark.parametrize("canvas_size", [16, 24, 40])
def test_glimpse_is_exactly_the_canvas_pixels_at_the_cell(canvas_size):
    images = torch.rand(6, canvas_size, canvas_size, generator=torch.Generator().manual_seed(2))
    g = grid_size(canvas_size)
    cell = torch.randint(g * g, (6,), generator=torch.Generator().manual_seed(3))
    patch = extract_glimpse(images, cell, num_scales=3)
    assert patch.shape == (6, 3, 8, 8)
    for b in range(6):
        r, c = (int(cell[b]) // g) * 4, (int(cell[b]) % g) * 4
        assert torch.equal(patch[b, 0], images[b, r : r + 8, c : c + 8])
        padded = torch.nn.functional.pad(images[b], (12, 12, 12, 12))
        coarse = padded[r + 8 : r + 24, c + 8 : c + 24].reshape(8, 2, 8, 2).mean((1, 3))
        torch.testing.assert_close(patch[b, 1], coarse)


def test_canvas_cell_points_at_the_digit():
    digits, labels = _digits()
    canvases = ha.cluttered_canvases(
        digits, labels, 10, canvas_size=24, generator=torch.Generator().manual_seed(4)
    )
    patch = extract_glimpse(canvases.images, canvases.cells)[:, 0]
    for b, (r, c) in enumerate(canvases.positions.tolist()):
        assert torch.equal(patch[b], canvases.images[b, r : r + 8, c : c + 8])


def test_models_shapes_flops_and_a_training_step():
    digits, labels = _digits()
    canvases = ha.cluttered_canvases(
        digits, labels, 8, canvas_size=24, generator=torch.Generator().manual_seed(0)
    )
    model = ha.GlimpseNet(24, num_glimpses=2)
    trace = model(canvases.images, generator=torch.Generator().manual_seed(0))
    assert trace.class_logits.shape == (2, 8, 10) and trace.cells.shape == (2, 8)
    surrogate, metrics = ha.glimpse_objective(torch.Generator().manual_seed(0))(model, canvases, 1)
    surrogate.backward()
    assert model.locate.weight.grad is not None and model.locate.weight.grad.abs().sum() > 0
    assert set(ha.glimpse_accuracy(model, canvases)) == {"accuracy@1", "accuracy@2", "found digit"}
    assert ha.WholeImageNet(24)(canvases.images).shape == (8, 10)
    small, big = ha.GlimpseNet(24).flops(), ha.GlimpseNet(64).flops()
    assert big < 1.5 * small  # only the G² location logits grow
    assert ha.WholeImageNet(64).flops() > 6 * ha.WholeImageNet(24).flops()  # grows with the area


def test_errors_name_arguments():
    digits, labels = _digits()
    with pytest.raises(ValueError, match="canvas_size"):
        grid_size(23)
    with pytest.raises(ValueError, match="digits"):
        ha.cluttered_canvases(digits[0], labels, 3)
    with pytest.raises(ValueError, match="labels"):
        ha.cluttered_canvases(digits, labels[:3], 3)
    with pytest.raises(ValueError, match="clutter_size"):
        ha.cluttered_canvases(digits, labels, 3, clutter_size=9)
    with pytest.raises(ValueError, match="cell"):
        extract_glimpse(torch.zeros(2, 24, 24), torch.tensor([0, 25]))
    with pytest.raises(ValueError, match="images"):
        ha.GlimpseNet(24)(torch.zeros(2, 16, 16))
    assert isinstance(Canvases, type)


def test_flops_count_the_real_number_of_classes():
    ten, hundred = ha.GlimpseNet(24).flops(), ha.GlimpseNet(24, num_classes=100).flops()
    # 3 glimpses, each with a (hidden=64) × classes read-out: 2 FLOPs per multiply-add
    assert hundred - ten == 3 * 2 * 64 * 90


def test_gru_written_out_matches_gru_cell():
    from hardattn_utils.apps.glimpses import _gru

    torch.manual_seed(0)
    cell, x, h = torch.nn.GRUCell(5, 7), torch.randn(3, 5), torch.randn(3, 7)
    torch.testing.assert_close(_gru(cell, x, h), cell(x, h))


def test_train_seeds_trains_each_copy_as_it_would_train_alone():
    digits, labels = _digits(40)
    canvases = ha.cluttered_canvases(
        digits, labels, 64, canvas_size=16, generator=torch.Generator().manual_seed(0)
    )
    g = ha.glimpse_training
    make = lambda: ha.WholeImageNet(16, hidden=8)  # noqa: E731
    stack = g.train_seeds(make, g.whole_image_loss, canvases, 5, seeds=[3, 4], batch_size=16)
    torch.manual_seed(4)
    alone = make()
    optimizer = torch.optim.Adam(alone.parameters(), lr=1e-2)
    for step in range(5):
        index = torch.randint(64, (16,), generator=torch.Generator().manual_seed(step))
        optimizer.zero_grad()
        g.whole_image_loss(alone, canvases.images[index], canvases.labels[index]).backward()
        optimizer.step()
    for a, b in zip(stack.copy_of(1).parameters(), alone.parameters(), strict=True):
        torch.testing.assert_close(a, b)
    frame = g.seed_accuracy(stack, canvases)
    assert list(frame["seed"]) == [3, 4] and frame["accuracy"].between(0, 1).all()


def test_train_seeds_runs_the_glimpse_policies_under_vmap():
    digits, labels = _digits(40)
    canvases = ha.cluttered_canvases(
        digits, labels, 32, canvas_size=16, generator=torch.Generator().manual_seed(0)
    )
    g = ha.glimpse_training
    make = lambda: ha.GlimpseNet(16, num_scales=1, num_glimpses=2, hidden=8)  # noqa: E731
    for policy in ("sample", "uniform"):
        loss = lambda m, x, y, p=policy: g.glimpse_loss(m, x, y, policy=p)[0]  # noqa: E731
        stack = g.train_seeds(make, loss, canvases, 3, seeds=[0, 1], batch_size=8)
        torch.manual_seed(1)
        start = make()
        moved = (stack.copy_of(1).classify.weight - start.classify.weight).abs().max()
        assert 0 < moved < 0.1  # three small Adam steps from the seed's own start
        frame = g.seed_accuracy(stack, canvases, policy="greedy")
        assert set(frame.columns) == {"seed", "accuracy@1", "accuracy@2", "found digit"}


def test_glimpse_loss_rejects_greedy_training():
    model = ha.GlimpseNet(16)
    with pytest.raises(ValueError, match="policy"):
        ha.glimpse_training.glimpse_loss(
            model, torch.zeros(2, 16, 16), torch.zeros(2, dtype=torch.long), policy="greedy"
        )


@pytest.mark.parametrize("num_scales", [1, 2, 3])
def test_all_glimpses_reads_every_cell_as_extract_glimpse_does(num_scales):
    images = torch.rand(3, 24, 24, generator=torch.Generator().manual_seed(7))
    patches = all_glimpses(images, num_scales=num_scales)
    g = grid_size(24)
    assert patches.shape == (3, g * g, num_scales * 64)
    for c in range(g * g):
        one = extract_glimpse(images, torch.full((3,), c), num_scales=num_scales).flatten(1)
        torch.testing.assert_close(patches[:, c], one)
    with pytest.raises(ValueError, match="images"):
        all_glimpses(torch.zeros(24, 24))


def test_soft_glimpse_net_blends_cells_and_learns_where_by_backprop():
    images = torch.rand(4, 16, 16, generator=torch.Generator().manual_seed(0))
    labels = torch.tensor([0, 1, 2, 3])
    torch.manual_seed(0)
    model = ha.SoftGlimpseNet(16, num_scales=1, num_glimpses=2, hidden=8)
    trace = model(images)
    assert trace.class_logits.shape == (2, 4, 10) and trace.cells.shape == (2, 4)
    assert (trace.log_probs <= 0).all() and (trace.log_probs >= -torch.log(torch.tensor(9.0))).all()
    loss, _ = ha.glimpse_loss(model, images, labels, policy="soft")
    loss.backward()
    assert model.locate.weight.grad.abs().sum() > 0  # the location head gets a gradient
    with torch.no_grad():  # a one-hot location logit makes the blend the cell's own patch
        model.locate.weight.zero_()
        model.locate.bias.copy_(torch.tensor([0.0, 0.0, 1e4, 0.0, 1e4, 0.0]))
        blended = model(images).cells
    assert (blended == 2 * 3 + 1).all()  # row 2, column 1 of the 3×3 grid
    with pytest.raises(ValueError, match="policy"):
        model(images, policy="sample")


def test_compute_counts_grow_with_the_canvas_only_for_models_that_read_it_all():
    hard = [ha.GlimpseNet(n, num_scales=1).flops() for n in (16, 64)]
    soft = [ha.SoftGlimpseNet(n, num_scales=1).flops() for n in (16, 64)]
    cnn = [ha.SmallCNN(n).flops() for n in (16, 64)]
    assert hard[1] < 1.1 * hard[0]
    assert cnn[1] > 15 * cnn[0]  # area ×16
    assert (soft[1] - hard[1]) > 20 * (soft[0] - hard[0])  # the blend grows with G²: 9 -> 225 cells
    assert soft[0] > hard[0]  # the blend reads all 9 cells
    assert ha.num_parameters(ha.SmallCNN(16)) == ha.num_parameters(ha.SmallCNN(64))
    assert ha.num_parameters(ha.SoftGlimpseNet(16)) == ha.num_parameters(ha.GlimpseNet(16))
    assert ha.SmallCNN(24)(torch.zeros(2, 24, 24)).shape == (2, 10)
    # conv1 3×3×8 on 16², conv2 3×3×8×16 on 8², read-out 16×10: multiply-adds ×2
    assert ha.SmallCNN(16).flops() == 2 * (256 * 72 + 64 * 1152 + 160) + 256 * 16 + 64 * 32


def test_seconds_per_image_is_a_positive_time():
    assert 0 < ha.seconds_per_image(ha.WholeImageNet(16), batch_size=8, repeats=2) < 1
    with pytest.raises(ValueError, match="repeats"):
        ha.seconds_per_image(ha.WholeImageNet(16), repeats=0)
