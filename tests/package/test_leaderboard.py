"""The estimator leaderboard of chapter 14."""

import pandas as pd
import pytest
import torch

import hardattn_utils as ha
from hardattn_utils import leaderboard, training_boards

TRAIN = {"train_seeds": ha.train_retrieval_seeds, "train_one": ha.train_retrieval}
LOGITS = torch.tensor([1.0, 0.0, -1.0])


def loss(z):
    return ((z - torch.tensor([0.0, 1.0, 0.0])) ** 2).sum(-1)


@pytest.mark.parametrize(("label", "expected"), [("REINFORCE", 1), ("RLOO", 4), ("ST softmax", 1)])
def test_loss_evaluations_are_counted_per_input(label, expected):
    batch = LOGITS.expand(5, 3)
    assert leaderboard.loss_evaluations(label, batch, loss) == expected


def test_stateful_estimators_are_fresh_on_every_lookup():
    assert leaderboard.is_stateful("REINFORCE + learned baseline")
    assert not leaderboard.is_stateful("REINFORCE")


def test_gradient_board_separates_unbiased_from_biased():
    board = leaderboard.gradient_board(
        LOGITS, loss, num_draws=4000, seeds=[0, 1], estimators=["RLOO", "Gumbel-Softmax"]
    )
    assert len(board) == 4 and set(board["seed"]) == {0, 1}
    by = board.groupby("estimator")
    assert (by.get_group("RLOO")["bias²"] < 4 * by.get_group("RLOO")["MC floor"]).all()
    assert (by.get_group("Gumbel-Softmax")["bias²"] > 10 * by.get_group("Gumbel-Softmax")["MC floor"]).all()
    rloo = board[board.estimator == "RLOO"].iloc[0]
    assert rloo["MSE at budget"] == pytest.approx(rloo["bias²"] + rloo["variance"])  # budget 4 = 4 evals


def test_gradient_board_per_input_problem_and_bad_input():
    logits, f = leaderboard.per_input_problem(4, 5, generator=torch.Generator().manual_seed(0))
    assert logits.shape == (4, 5) and f(torch.eye(5)[:4]).shape == (4,)
    board = leaderboard.gradient_board(logits, f, num_draws=50, seeds=[0, 1], estimators=["REINFORCE"])
    assert (board["variance"] > 0).all()
    with pytest.raises(ValueError, match="estimators"):
        leaderboard.gradient_board(logits, f, num_draws=50, estimators=["nope"])
    with pytest.raises(ValueError, match="num_draws"):
        leaderboard.gradient_board(logits, f, num_draws=1)


def test_retrieval_board_and_summary():
    task = ha.RetrievalTask()
    test = task.sample(100, generator=torch.Generator().manual_seed(7))
    board = training_boards.retrieval_board(
        task, test, **TRAIN, num_steps=20, level=0.0, seeds=[0, 1], estimators=["RLOO"]
    )
    assert board["evaluations"].tolist() == [4.0, 4.0]
    assert board["steps to level"].tolist() == [0.0, 0.0]  # level 0 is reached at once
    never = training_boards.retrieval_board(
        task, test, **TRAIN, num_steps=10, level=1.1, seeds=[0, 1], estimators=["RLOO"]
    )
    table = training_boards.summarise(never, ["steps to level", "final accuracy"])
    assert table.loc["RLOO", "steps to level"] == "0/2 seeds"
    assert "±" in table.loc["RLOO", "final accuracy"]


def test_retrieval_board_trains_a_stateful_estimator_per_seed():
    task = ha.RetrievalTask()
    test = task.sample(50, generator=torch.Generator().manual_seed(7))
    board = training_boards.retrieval_board(
        task, test, **TRAIN, num_steps=4, seeds=[0, 1], estimators=["REINFORCE + learned baseline"]
    )
    assert board["seed"].tolist() == [0, 1] and board["evaluations"].tolist() == [1.0, 1.0]


def test_training_board_reads_any_log_and_declared_costs():
    def train(label):  # two seeds; "fast" reaches 0.5 at step 10, "slow" never
        rows = [
            {"seed": s, "step": t, "metric": "loss", "value": (1.0 if t == 0 else v)}
            for s in (0, 1)
            for t, v in ((0, 0), (10, 0.4 if label == "fast" else 0.9), (20, 0.3))
        ]
        return pd.DataFrame(rows)

    board = training_boards.training_board(
        train, {"fast": 1, "slow": 4}, metric="loss", level=0.5, num_seeds=2, higher=False
    )
    fast, slow = board[board.estimator == "fast"], board[board.estimator == "slow"]
    assert fast["steps to level"].tolist() == [10.0, 10.0]
    assert slow["steps to level"].tolist() == [20.0, 20.0]
    assert slow["evaluations to level"].tolist() == [80.0, 80.0]
    assert fast["final loss"].tolist() == [0.3, 0.3]
    higher = training_boards.training_board(train, {"slow": 1}, metric="loss", level=0.5, num_seeds=2)
    assert higher["steps to level"].tolist() == [0.0, 0.0]  # 1.0 ≥ 0.5 at once
    with pytest.raises(ValueError, match="evaluations"):
        training_boards.training_board(train, {}, metric="loss", level=0.5, num_seeds=2)
