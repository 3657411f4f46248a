"""The estimator registry: label -> estimator, with a fresh instance for stateful entries.

``ESTIMATORS[label]`` is what the book's tables and plots call ``label`` (its
colour is fixed in :data:`hardattn_utils.plotting.ESTIMATOR_COLORS`). A stateful
estimator (a moving average, a learned baseline) is built anew on every lookup,
so no measurement depends on what ran before it. :func:`resolve` turns a label or
a callable into ``(label, estimator)`` for :func:`hardattn_utils.gradient_stats`,
:func:`hardattn_utils.gradient_samples` and :func:`hardattn_utils.estimator_objective`.

REBAR, RELAX (a learned control: stateful), Gumbel-Rao and ReinMax come from
:mod:`hardattn_utils.advanced` (chapter 7).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

import torch

from ._checks import check_callable
from .advanced import LearnedRelax, gumbel_rao, rebar, reinmax
from .baselines import LearnedBaseline, MovingAverageBaseline, rloo, self_critical
from .control import control_variate, optimal_baseline_reinforce
from .estimators import (
    Estimate,
    gumbel_softmax_estimator,
    reinforce,
    st_gumbel_softmax,
    straight_through_softmax,
)

__all__ = ["ESTIMATORS", "Registry", "resolve"]

Estimator = Callable[..., Estimate]


class Registry(Mapping[str, Estimator]):
    """A read-only mapping label -> estimator whose values are built on lookup.

    Args:
        factories: label -> a function of no argument that returns the estimator.
            A stateless estimator's factory returns the same function every time.
    """

    def __init__(self, factories: Mapping[str, Callable[[], Estimator]]) -> None:
        self._factories = dict(factories)

    def __getitem__(self, label: str) -> Estimator:
        if label not in self._factories:
            raise KeyError(f"estimator {label!r} is not in ESTIMATORS: {sorted(self._factories)}")
        return self._factories[label]()

    def __iter__(self) -> Iterator[str]:
        return iter(self._factories)

    def __len__(self) -> int:
        return len(self._factories)

    def __repr__(self) -> str:
        return f"Registry({list(self._factories)})"


def _same(estimator: Estimator) -> Callable[[], Estimator]:
    return lambda: estimator


def _learned_baseline() -> LearnedBaseline:
    """A fresh :class:`LearnedBaseline` with the same initial weights every time.

    Its weights come from a private seed, so a lookup neither depends on nor
    advances torch's global generator.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LearnedBaseline()


def _learned_relax() -> LearnedRelax:
    """A fresh :class:`LearnedRelax` (REBAR with ``eta = 1`` until trained), seeded privately."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return LearnedRelax()


#: label -> estimator; a stateful entry is a fresh instance on every lookup.
ESTIMATORS = Registry(
    {
        "REINFORCE": _same(reinforce),
        "RLOO": _same(rloo),
        "Gumbel-Softmax": _same(gumbel_softmax_estimator),
        "ST Gumbel-Softmax": _same(st_gumbel_softmax),
        "ST softmax": _same(straight_through_softmax),
        "REINFORCE + moving average": partial(MovingAverageBaseline, 0.9),
        "REINFORCE + self-critical": _same(self_critical),
        "REINFORCE + learned baseline": _learned_baseline,
        "REINFORCE + optimal baseline": _same(optimal_baseline_reinforce),
        "control variate": _same(partial(control_variate, num_samples=2, leave_one_out=True)),
        "REBAR": _same(rebar),
        "RELAX": _learned_relax,
        "Gumbel-Rao": _same(gumbel_rao),
        "ReinMax": _same(reinmax),
    }
)


def resolve(estimator: str | Estimator) -> tuple[str, Estimator]:
    """``(label, estimator)`` for a label in :data:`ESTIMATORS` or an estimator.

    A label gives a fresh estimator; a callable is returned as it is, labelled with its
    ``__name__`` (or its ``functools.partial``'s function's name).

    Raises:
        ValueError: for an unknown label. TypeError: for anything else that is not callable.
    """
    if isinstance(estimator, str):
        if estimator not in ESTIMATORS:
            raise ValueError(f"estimator {estimator!r} is not in ESTIMATORS: {sorted(ESTIMATORS)}")
        return estimator, ESTIMATORS[estimator]
    check_callable(estimator, "estimator")
    name = getattr(estimator, "__name__", None) or getattr(
        getattr(estimator, "func", None), "__name__", "estimator"
    )
    return name, estimator
