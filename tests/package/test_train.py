"""The training loop and its tidy log (chapter 3)."""

import pandas as pd
import pytest
import torch

import hardattn_utils as ha


def _run(steps=60, label="RLOO"):
    ha.set_seed(0)
    task = ha.RetrievalTask(num_positions=4, noise=0.3)
    data = torch.Generator().manual_seed(1)
    test = task.sample(500, torch.Generator().manual_seed(2))
    model = ha.RetrievalNet(task.key_dim, task.num_classes)
    log = ha.fit(
        model,
        ha.estimator_objective("RLOO", num_samples=4),
        lambda s: task.sample(32, data),
        steps,
        evaluate=lambda m: m.accuracy(test),
        eval_every=20,
        label=label,
        progress=False,
        lr=0.05,
    )
    return log


def test_fit_returns_a_tidy_log_and_learns():
    log = _run()
    assert list(log.columns) == ["label", "step", "metric", "value", "seconds"]
    accuracy = log[log["metric"] == "accuracy"].set_index("step")["value"]
    assert list(accuracy.index) == [0, 20, 40, 60]
    # chance is about 1/10 + 1/4 * 9/10; a trained model is far above it
    assert accuracy[0] < 0.5 < accuracy[60]


def test_steps_to_finds_the_first_step_at_the_level():
    log = pd.DataFrame({"step": [0, 10, 20, 30], "metric": "accuracy", "value": [0.1, 0.95, 0.5, 0.97]})
    assert ha.steps_to(log) == 10
    assert ha.steps_to(log, level=0.96) == 30
    assert ha.steps_to(log, level=0.99) is None
    assert ha.steps_to(log, metric="loss") is None


def test_fit_rejects_zero_steps():
    with pytest.raises(ValueError, match="num_steps"):
        ha.fit(torch.nn.Linear(1, 1), lambda m, b, s: m.weight.sum(), lambda s: None, 0)


def test_train_retrieval_is_reproducible_per_seed():
    task = ha.RetrievalTask(num_positions=4)
    test = task.sample(200, torch.Generator().manual_seed(3))
    runs = [ha.train_retrieval(task, "RLOO", test, num_steps=20, seed=s, num_samples=2) for s in (5, 5, 6)]
    values = [log["value"].to_numpy() for _, log in runs]
    assert (values[0] == values[1]).all() and not (values[0] == values[2]).all()
    assert set(runs[0][1]["seed"]) == {5} and set(runs[0][1]["label"]) == {"RLOO"}


def test_progress_bar_leaves_no_trace_where_progress_is_off(monkeypatch):
    steps = range(3)
    monkeypatch.setenv("HARDATTN_PROGRESS", "0")
    assert ha.progress_bar(steps, "x") is steps  # the bare iterable: nothing drawn or stored
    monkeypatch.setenv("HARDATTN_PROGRESS", "1")
    assert ha.progress_bar(steps, "x") is not steps
    assert ha.progress_bar(steps, "x", show=False) is steps
