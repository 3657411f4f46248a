"""Variance reduction for REINFORCE: baselines.

Every estimator here has the common signature ``(logits, f, *, ..., generator=None)
-> Estimate`` of :mod:`hardattn_utils.estimators`, and the ones with a fixed
colour are registered in ``ESTIMATORS`` at import. A baseline ``b`` keeps the
gradient unbiased exactly when it is independent of the sample it scores, given
everything else (:func:`mean_baseline_reinforce` breaks that rule on purpose).

Chapter 4 (``04_variance_reduction``) explains and measures each of them.
"""

from __future__ import annotations

import math
from numbers import Real

import torch
from torch import Tensor, nn

from ._checks import check_logits, masked_to_zero
from .entropy import entropy
from .estimators import ESTIMATORS, Estimate, LossFn, _loss, reinforce, sample_one_hot
from .sampling import one_hot

__all__ = [
    "LearnedBaseline",
    "MovingAverageBaseline",
    "mean_baseline_reinforce",
    "optimal_baseline",
    "optimal_baseline_reinforce",
    "score_function",
    "self_critical",
]


def _check_count(num_samples: object, minimum: int, why: str = "") -> int:
    if isinstance(num_samples, bool) or not isinstance(num_samples, int) or num_samples < minimum:
        raise ValueError(f"num_samples must be an int >= {minimum}{why}, got {num_samples!r}")
    return num_samples


def _leave_one_out(x: Tensor) -> Tensor:
    """Sum over the sample axis 0 of every *other* sample: (S, ...) -> (S, ...)."""
    return x.sum(0, keepdim=True) - x


def score_function(z: Tensor, logits: Tensor) -> Tensor:
    """The score ``∇_ℓ log p(z)`` of a one-hot ``z`` under ``Categorical(softmax(ℓ))``.

    .. math:: s(z) = \\nabla_\\ell \\log \\mathrm{softmax}(\\ell)_z = z - \\mathrm{softmax}(\\ell)

    Args:
        z: (S..., K) one-hot samples.
        logits: (..., K), broadcastable to ``z``.

    Returns:
        (S..., K), detached. Chapter 3 derives it; chapter 4 uses it.
    """
    return (z - torch.softmax(check_logits(logits), dim=-1)).detach()


class MovingAverageBaseline:
    """An exponential moving average of the loss, used as a REINFORCE baseline.

    Calling the object is an estimator: the samples are scored with the *current*
    :attr:`value`, and only afterwards is their mean loss folded into the average,
    so no sample ever sees its own loss in its baseline. The average is
    bias-corrected as in Adam, so early values are not pulled towards ``initial``.

    .. math:: m_{t} = \\gamma m_{t-1} + (1-\\gamma)\\,\\overline{f(z_t)},\\quad
       b_t = m_{t-1} / (1 - \\gamma^{t-1})

    Args:
        decay: γ in [0, 1).
        initial: the value before any update.

    Reference: Williams (1992). Chapter 4.
    """

    def __init__(self, decay: float = 0.9, initial: float = 0.0) -> None:
        if isinstance(decay, bool) or not isinstance(decay, Real) or not 0 <= decay < 1:
            raise ValueError(f"decay must be a number in [0, 1), got {decay!r}")
        if isinstance(initial, bool) or not isinstance(initial, Real):
            raise TypeError(f"initial must be a number, got {type(initial).__name__}")
        self.decay, self.initial = float(decay), float(initial)
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

    def __call__(
        self, logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
    ) -> Estimate:
        """REINFORCE with ``b = self.value``, then ``self.update(loss)``."""
        estimate = reinforce(logits, f, baseline=self.value, num_samples=num_samples, generator=generator)
        self.update(estimate.loss)
        return estimate

    def __repr__(self) -> str:
        return f"MovingAverageBaseline(decay={self.decay}, value={self.value:.4g})"


def self_critical(
    logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the loss of the greedy (argmax) selection as baseline.

    .. math:: \\hat g = \\big(f(z) - f(e_{\\arg\\max \\ell})\\big)\\nabla\\log p(z)

    The greedy choice is a function of the logits only, not of the sample, so the
    estimate stays unbiased; it costs one extra evaluation of ``f`` (shared by
    the ``num_samples`` samples).

    Reference: Rennie et al. (2017). Chapter 4.
    """
    logits = check_logits(logits)
    with torch.no_grad():
        greedy = one_hot(logits.argmax(-1), logits.shape[-1], dtype=logits.dtype)
        baseline = _loss(f, greedy)
    return reinforce(logits, f, baseline=baseline, num_samples=num_samples, generator=generator)


class LearnedBaseline(nn.Module):
    """A small network that predicts the loss from the logits; a REINFORCE baseline.

    The features are ``(max_k p_k, H(p) / log K)``, which do not depend on K, so one
    module serves any number of categories. Calling the module is an estimator:
    the prediction is used *detached* as the baseline, and the squared error
    ``(b̂ − f(z))²`` is added to the surrogate, so the same ``backward()`` trains
    the predictor (register the module inside the model so the optimizer sees it).

    .. math:: \\hat g = \\big(f(z) - \\mathrm{sg}(\\hat b(\\ell))\\big)\\nabla\\log p(z),\\quad
       \\min \\big(\\hat b(\\ell) - f(z)\\big)^2

    Args:
        hidden: width of the hidden layer.

    Reference: Mnih & Gregor (2014) style value baselines; Williams (1992). Chapter 4.
    """

    def __init__(self, hidden: int = 16) -> None:
        super().__init__()
        if isinstance(hidden, bool) or not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"hidden must be a positive int, got {hidden!r}")
        self.net = nn.Sequential(nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, 1))

    def predict(self, logits: Tensor) -> Tensor:
        """(..., K) logits -> (...) predicted loss (no gradient flows into ``logits``)."""
        logits = check_logits(logits).detach()
        probs = torch.softmax(logits, dim=-1)
        scale = max(math.log(logits.shape[-1]), 1e-6)
        features = torch.stack([probs.amax(-1), entropy(logits) / scale], dim=-1)
        return self.net(features.to(self.net[0].weight.dtype)).squeeze(-1)

    def forward(
        self, logits: Tensor, f: LossFn, *, num_samples: int = 1, generator: torch.Generator | None = None
    ) -> Estimate:
        """REINFORCE with ``b = predict(logits)`` (detached) plus the predictor's squared error."""
        prediction = self.predict(logits)
        estimate = reinforce(logits, f, baseline=prediction, num_samples=num_samples, generator=generator)
        value_loss = (prediction - estimate.loss).pow(2).mean()
        return Estimate(estimate.surrogate + value_loss, estimate.loss, estimate.z)


def optimal_baseline(logits: Tensor, f: LossFn) -> Tensor:
    """The variance-minimising constant baseline per logit coordinate, by enumeration.

    .. math:: b_k^* = \\frac{\\mathbb E[f(z)\\, s_k(z)^2]}{\\mathbb E[s_k(z)^2]},\\quad s = z - p

    Args:
        logits: (..., K).
        f: the loss; called once on the K one-hots (as :func:`expected_loss` does).

    Returns:
        (..., K) detached; 0 where ``E[s_k²] = 0`` (a category of probability 0 or 1).

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    logits = check_logits(logits).detach()
    K, batch = logits.shape[-1], logits.shape[:-1]
    eye = torch.eye(K, dtype=logits.dtype, device=logits.device)
    one_hots = eye.view(K, *([1] * len(batch)), K).expand(K, *batch, K)
    with torch.no_grad():
        losses = _loss(f, one_hots)  # (K, ...)
    probs = torch.softmax(logits, dim=-1)
    weight = probs.movedim(-1, 0).unsqueeze(-1) * (one_hots - probs) ** 2  # (K, ..., K)
    numerator, denominator = (weight * losses.unsqueeze(-1)).sum(0), weight.sum(0)
    return torch.where(denominator > 0, numerator / denominator.clamp_min(1e-30), 0.0)


def optimal_baseline_reinforce(
    logits: Tensor,
    f: LossFn,
    *,
    num_samples: int = 4,
    baseline: Tensor | None = None,
    generator: torch.Generator | None = None,
) -> Estimate:
    """REINFORCE with a separate baseline per logit coordinate, ideally ``b*``.

    Without ``baseline``, ``b_k`` for sample ``s`` is estimated from the *other*
    samples (leave-one-out, so the estimate stays unbiased):

    .. math:: \\hat g_k = \\frac1S\\sum_s \\big(f(z_s) - b_{s,k}\\big)\\,s_k(z_s),\\quad
       b_{s,k} = \\frac{\\sum_{j\\ne s} f(z_j)\\,s_k(z_j)^2}{\\sum_{j\\ne s} s_k(z_j)^2}

    Args:
        logits: (..., K).
        f: loss of a one-hot sample.
        num_samples: S (>= 2 when ``baseline`` is None).
        baseline: (..., K) a fixed per-coordinate baseline, e.g. :func:`optimal_baseline`.
        generator: source of randomness.

    Reference: Greensmith, Bartlett & Baxter (2004). Chapter 4.
    """
    _check_count(num_samples, 2 if baseline is None else 1, " to estimate the baseline")
    z, _ = sample_one_hot(logits, num_samples, generator)
    loss = _loss(f, z)
    detached = loss.detach().unsqueeze(-1)
    score = score_function(z, logits)  # (S, ..., K)
    if baseline is None:
        squared = score**2
        total = _leave_one_out(squared)
        b = torch.where(total > 0, _leave_one_out(detached * squared) / total.clamp_min(1e-30), 0.0)
    else:
        b = baseline.detach()
    surrogate = (loss + ((detached - b) * score * masked_to_zero(logits)).sum(-1)).mean()
    return Estimate(surrogate, loss.detach(), z)


def mean_baseline_reinforce(
    logits: Tensor, f: LossFn, *, num_samples: int = 4, generator: torch.Generator | None = None
) -> Estimate:
    """REINFORCE with the mean loss of all S samples, *including* the one scored (biased).

    For demonstration only: the baseline depends on the sample it scores, and the
    expected estimate is the exact gradient times ``(S - 1) / S``. Use :func:`rloo`.

    .. math:: \\mathbb E[\\hat g] = \\tfrac{S-1}{S}\\,\\nabla L

    Chapter 4.
    """
    _check_count(num_samples, 2, " for a batch-mean baseline")
    z, log_p = sample_one_hot(logits, num_samples, generator)
    loss = _loss(f, z)
    detached = loss.detach()
    surrogate = (loss + (detached - detached.mean(0, keepdim=True)) * log_p).mean()
    return Estimate(surrogate, detached, z)


ESTIMATORS.update(
    {
        "REINFORCE + moving average": MovingAverageBaseline(0.9),
        "REINFORCE + self-critical": self_critical,
        "REINFORCE + learned baseline": LearnedBaseline(),
        "REINFORCE + optimal baseline": optimal_baseline_reinforce,
    }
)
