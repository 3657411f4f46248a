"""Baselines for REINFORCE: values or callables on the sampled losses, and the
estimators that pair :func:`hardattn_utils.estimators.reinforce` with each.

A baseline ``b`` keeps the gradient unbiased when ``E[b ∇log p(z)] = 0``; a simple
sufficient condition is that ``b`` does not depend on the sample it scores, given
everything else: :func:`leave_one_out` is unbiased, :func:`batch_mean` (kept to show
the bias: exactly ``(S−1)/S`` times the leave-one-out estimate) is not. Shapes: ``B`` batch, ``m``
categories, ``S`` samples.

Chapter 4 (``04_variance_reduction``) explains and measures each of them.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ._checks import check_estimator_logits, check_int, check_loss, check_real
from .categorical import entropy, one_hot
from .estimators import Estimate, LossFn, reinforce_core

__all__ = [
    "LearnedBaseline",
    "MovingAverageBaseline",
    "batch_mean",
    "leave_one_out",
    "mean_baseline_reinforce",
    "rloo",
    "self_critical",
]


def leave_one_out(loss: Tensor) -> Tensor:
    """The mean loss of the *other* samples: (S, B) -> (S, B), for S >= 2.

    .. math:: b_s = \\frac1{S-1}\\sum_{j\\ne s} f(z_j)

    Reference: Kool, van Hoof & Welling (2019). Chapter 4.
    """
    return sum_of_others(loss) / (loss.shape[0] - 1)


def sum_of_others(x: Tensor) -> Tensor:
    """Sum over the sample axis 0 of every *other* sample: (S, ...) -> (S, ...)."""
    return x.sum(0, keepdim=True) - x


def batch_mean(loss: Tensor) -> Tensor:
    """The mean loss of *all* S samples, the scored one included: (S, B) -> (1, B). Biased.

    .. math:: \\mathbb E[\\hat g] = \\tfrac{S-1}{S}\\,\\nabla L

    Chapter 4 (kept to measure that bias).
    """
    return loss.mean(0, keepdim=True)


def rloo(
    logits: Tensor, f: LossFn, *, num_samples: int = 4, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the :func:`leave_one_out` baseline over S >= 2 samples (unbiased).

    .. math:: \\hat g = \\frac1S\\sum_s \\Big(f(z_s) - \\frac1{S-1}\\sum_{j\\ne s} f(z_j)\\Big)
       \\nabla\\log p(z_s)

    Returns:
        ``Estimate`` with ``loss`` and ``z`` of leading shape (S,).

    Reference: Kool, van Hoof & Welling (2019). Chapter 4.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples, minimum=2)
    return reinforce_core(logits, f, num_samples, leave_one_out, generator)


def mean_baseline_reinforce(
    logits: Tensor, f: LossFn, *, num_samples: int = 4, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the :func:`batch_mean` baseline (biased; for demonstration only).

    The expected estimate is the exact gradient times ``(S - 1) / S``. Use :func:`rloo`.
    Chapter 4.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples, minimum=2)
    return reinforce_core(logits, f, num_samples, batch_mean, generator)


class MovingAverageBaseline:
    """An exponential moving average of the loss, used as a REINFORCE baseline.

    :meth:`baseline` is the callable on the sampled losses: it returns the *current*
    :attr:`value`, and only afterwards folds their mean into the average, so no
    sample ever sees its own loss in its baseline. Calling the object is an
    estimator (REINFORCE with this baseline). The average is bias-corrected as in
    Adam, so early values are not pulled towards ``initial``. It holds state: use a
    fresh one per experiment (``ESTIMATORS`` gives a fresh one on every lookup).

    .. math:: m_{t} = \\gamma m_{t-1} + (1-\\gamma)\\,\\overline{f(z_t)},\\quad
       b_t = m_{t-1} / (1 - \\gamma^{t-1})

    Args:
        decay: γ in [0, 1).
        initial: the value before any update.

    Reference: Williams (1992). Chapter 4.
    """

    def __init__(self, decay: float = 0.9, initial: float = 0.0) -> None:
        self.decay = check_real(decay, "decay", minimum=0.0, maximum=1.0, open_max=True)
        self.initial = check_real(initial, "initial")
        self.reset()

    def reset(self) -> None:
        """Forget every update."""
        self._average, self.num_updates = 0.0, 0

    @property
    def value(self) -> float:
        """The baseline the next call will use."""
        if self.num_updates == 0:
            return self.initial
        return self._average / (1.0 - self.decay**self.num_updates)

    def update(self, loss: Tensor) -> float:
        """Fold the mean of ``loss`` (any shape) into the average; return the new value."""
        if not isinstance(loss, Tensor):
            raise TypeError(f"loss must be a torch.Tensor, got {type(loss).__name__}")
        self._average = self.decay * self._average + (1 - self.decay) * loss.detach().mean().item()
        self.num_updates += 1
        return self.value

    def baseline(self, loss: Tensor) -> float:
        """The baseline for ``loss`` (S, B): the value before, then fold ``loss`` in."""
        value = self.value
        self.update(loss)
        return value

    def __call__(
        self, logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
    ) -> Estimate:
        """REINFORCE with :meth:`baseline`."""
        logits, num_samples = check_estimator_logits(logits, num_samples)
        return reinforce_core(logits, f, num_samples, self.baseline, generator)

    def __repr__(self) -> str:
        return f"MovingAverageBaseline(decay={self.decay}, value={self.value:.4g})"


def self_critical(
    logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the loss of the greedy (argmax) selection as baseline.

    .. math:: \\hat g = \\big(f(z) - f(e_{\\arg\\max \\ell})\\big)\\nabla\\log p(z)

    The greedy choice is a function of the logits only, not of the sample, so the
    estimate stays unbiased; it costs one extra evaluation of ``f``.

    Reference: Rennie et al. (2017). Chapter 4.
    """
    logits, num_samples = check_estimator_logits(logits, num_samples)
    with torch.no_grad():
        greedy = one_hot(logits.argmax(-1), logits.shape[-1], dtype=logits.dtype)  # (B, m)
        baseline = check_loss(f, greedy)  # (B)
    return reinforce_core(logits, f, num_samples, baseline, generator)


class LearnedBaseline(nn.Module):
    """A small network that predicts the loss from the logits; a REINFORCE baseline.

    The features are ``(max_k p_k, H(p) / log m)``, which do not depend on m, so one
    module serves any number of categories. Calling the module is an estimator:
    the prediction is used *detached* as the baseline, and the squared error
    ``(b̂ − f(z))²`` is added to the surrogate, so the same ``backward()`` trains
    the predictor. Its parameters must reach the optimiser:
    :func:`hardattn_utils.fit` adds them when the objective comes from
    :func:`hardattn_utils.estimator_objective`.

    .. math:: \\hat g = \\big(f(z) - \\mathrm{sg}(\\hat b(\\ell))\\big)\\nabla\\log p(z),\\quad
       \\min \\big(\\hat b(\\ell) - f(z)\\big)^2

    Args:
        hidden: width of the hidden layer.

    Reference: Mnih & Gregor (2014) style value baselines; Williams (1992). Chapter 4.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        hidden = check_int(hidden, "hidden", minimum=1)
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def predict(self, logits: Tensor) -> Tensor:
        """(B..., m) logits -> (B...) predicted loss (no gradient flows into ``logits``)."""
        logits, _ = check_estimator_logits(logits, 1)
        return self._predict(logits)

    def _predict(self, logits: Tensor) -> Tensor:
        logits = logits.detach()
        probs = torch.softmax(logits, dim=-1)  # (B, m)
        scale = max(math.log(logits.shape[-1]), 1e-6)
        features = torch.stack([probs.amax(-1), entropy(logits) / scale], dim=-1)  # (B, 2)
        return self.net(features.to(self.net[0].weight.dtype)).squeeze(-1)  # (B)

    def forward(
        self, logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
    ) -> Estimate:
        """REINFORCE with ``b = predict(logits)`` (detached) plus the predictor's squared error."""
        logits, num_samples = check_estimator_logits(logits, num_samples)
        prediction = self._predict(logits)  # (B)
        estimate = reinforce_core(logits, f, num_samples, prediction.detach(), generator)
        value_loss = (prediction - estimate.loss).pow(2).mean()
        return estimate._replace(surrogate=estimate.surrogate + value_loss)
