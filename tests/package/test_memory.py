"""Copy task, copy model, memory-read helpers (chapter 9)."""

import math

import pytest
import torch

import hardattn_utils as ha


def test_copy_task_is_seeded_and_targets_reverse_the_source():
    task = ha.CopyTask(length=6, vocab_size=5, num_rare=50, rare_prob=0.4)
    a = task.sample(200, torch.Generator().manual_seed(0))
    b = task.sample(200, torch.Generator().manual_seed(0))
    assert torch.equal(a.source, b.source) and torch.equal(a.target, a.source.flip(1))
    assert a.source.shape == (200, 6) and a.source.max() < 55
    rare = (a.source >= 5).float().mean().item()
    # 1200 tokens, rare with probability 0.4: standard error 0.014, 4 se = 0.057
    assert abs(rare - 0.4) < 0.057


@pytest.mark.parametrize("read", ["soft", "st_gumbel", "argmax"])
def test_copy_probs_are_distributions(read):
    torch.manual_seed(0)
    task = ha.CopyTask(length=5, vocab_size=4, num_rare=20)
    model = ha.CopyNet(task, hidden=8)
    batch = task.sample(3, torch.Generator().manual_seed(1))
    probs = model.probs(batch.source, read=read, generator=torch.Generator().manual_seed(2))
    assert probs.shape == (3, 5, 24)
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 5))
    # a rare id that is not in the source gets no probability
    absent = torch.ones(3, 24, dtype=torch.bool)
    absent[:, :4] = False
    absent.scatter_(1, batch.source, False)
    assert (probs.masked_select(absent.unsqueeze(1).expand_as(probs)) == 0).all()


def test_hard_copy_puts_the_copy_mass_on_one_source_token():
    torch.manual_seed(0)
    task = ha.CopyTask(length=5, vocab_size=4, num_rare=20, rare_prob=1.0)
    model = ha.CopyNet(task, hidden=8)
    source = torch.arange(4, 9).expand(2, 5)  # five distinct rare tokens
    probs = model.probs(source, read="argmax")
    rare_mass = probs[..., 4:]
    assert ((rare_mass > 0).sum(-1) == 1).all()


@pytest.mark.parametrize("read", ["soft", "st_gumbel"])
def test_copy_training_learns_to_copy_rare_tokens(read):
    task = ha.CopyTask(length=5, vocab_size=5, num_rare=100)
    evaluation = task.sample(300, torch.Generator().manual_seed(9))
    ha.set_seed(0)
    model = ha.CopyNet(task, hidden=16)
    data = torch.Generator().manual_seed(0)
    objective = ha.copy_objective(read, generator=torch.Generator().manual_seed(1))
    log = ha.fit(
        model, objective, lambda step: task.sample(32, data), 60, lr=1e-2, clip_norm=1.0, progress=False
    )
    losses = log[log.metric == "train_loss"]["value"].to_numpy()
    assert losses[-1] < 0.5 * losses[0], losses
    copied = ha.copy_accuracy(model, evaluation, "soft" if read == "soft" else "argmax")["rare_copied"]
    assert copied > 0.8  # untrained: about 0


def test_read_sharpness_of_uniform_and_peaked_reads():
    uniform = ha.read_sharpness(torch.zeros(4, 8))
    assert uniform["entropy"] == pytest.approx(torch.log(torch.tensor(8.0)).item())
    assert uniform["max_weight"] == pytest.approx(1 / 8)
    peaked = ha.read_sharpness(torch.tensor([[50.0, 0.0, 0.0]]))
    assert peaked["entropy"] < 1e-6 and peaked["max_weight"] == pytest.approx(1.0)


def test_read_timing_frame():
    frame = ha.read_timing(
        [4, 16], dim=8, batch_size=2, repeats=2, generator=torch.Generator().manual_seed(0)
    )
    assert list(frame.columns) == ["slots", "read", "ms"]
    assert len(frame) == 4 and (frame["ms"] > 0).all()


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="rare_prob"):
        ha.CopyTask(rare_prob=1.5)
    with pytest.raises(ValueError, match="length"):
        ha.CopyTask(length=1)
    with pytest.raises(ValueError, match="batch_size"):
        ha.CopyTask().sample(0)
    model = ha.CopyNet(ha.CopyTask(), hidden=8)
    with pytest.raises(ValueError, match="read"):
        model.probs(torch.zeros(1, 8, dtype=torch.long), read="blend")
    with pytest.raises(ValueError, match="read"):
        ha.copy_objective("argmax")
    with pytest.raises(TypeError, match="scores"):
        ha.read_sharpness(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="num_slots"):
        ha.read_timing([])


def test_soft_read_backpropagates_through_the_softmax():
    logits = torch.randn(4, 6, generator=torch.Generator().manual_seed(0), requires_grad=True)
    weights = torch.randn(6, generator=torch.Generator().manual_seed(1))
    estimate = ha.soft_read(logits, lambda z: (z * weights).sum(-1))
    estimate.surrogate.backward()
    expected = logits.detach().clone().requires_grad_(True)
    (torch.softmax(expected, -1) * weights).sum(-1).mean().backward()
    torch.testing.assert_close(logits.grad, expected.grad)
    torch.testing.assert_close(estimate.z.sum(-1), torch.ones(4))
    assert estimate.loss.shape == (4,) and not estimate.loss.requires_grad


def test_train_copy_seeds_logs_every_seed_and_repeats_exactly():
    task = ha.CopyTask(length=4, vocab_size=3, num_rare=10)
    test = task.sample(20, torch.Generator().manual_seed(9))
    runs = [
        ha.train_copy_seeds(task, read, test, num_steps=3, seeds=[0, 1], hidden=8, eval_every=2)
        for read in ("soft", "st_gumbel", "soft")
    ]
    nets, log = runs[0]
    assert sorted(nets) == [0, 1] and set(log["seed"]) == {0, 1}
    assert {"accuracy", "rare_copied", "rare_prob"} <= set(log["metric"])
    assert set(runs[1][1]["label"]) == {"st_gumbel"}
    cols = ["seed", "step", "metric", "value"]
    assert runs[0][1][cols].equals(runs[2][1][cols])
    with pytest.raises(ValueError, match="read"):
        ha.train_copy_seeds(task, "argmax", test, num_steps=1)


def test_reader_summary_reads_both_ways():
    task = ha.RetrievalTask(num_positions=6, key_dim=4, num_classes=3)
    batch = task.sample(30, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    net = ha.RetrievalNet(4, 3)
    soft, hard = ha.memory.reader_summary(net, batch, "soft"), ha.memory.reader_summary(net, batch, "argmax")
    assert soft["accuracy, own read"] == soft["soft read"] == hard["soft read"]
    assert hard["accuracy, own read"] == hard["argmax read"] == net.accuracy(batch)["accuracy"]
    assert 0 <= soft["entropy"] <= math.log(6) + 1e-6 and soft["slot found"] == hard["slot found"]
    with pytest.raises(ValueError, match="own"):
        ha.memory.reader_summary(net, batch, "sample")
