"""Temperature schedules for Gumbel-Softmax training: callables ``step -> tau``.

Every schedule is monotone non-increasing in the step and never goes below its
floor, so it plugs straight into :func:`hardattn_utils.estimator_objective`
(``tau=schedule``: a callable hyper-parameter is called with the step).

Chapter 5 (``05_gumbel_softmax``) plots and uses them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from ._checks import check_int, check_real

__all__ = ["ExponentialSchedule", "JangSchedule", "schedule_frame"]


@dataclass(frozen=True)
class ExponentialSchedule:
    """Geometric decay from ``start`` to ``end`` over ``num_steps``, then constant.

    .. math:: \\tau(t) = \\tau_{start}\\,(\\tau_{end}/\\tau_{start})^{\\min(t, T)/T}

    Args:
        start: temperature at step 0 (> 0).
        end: temperature from step ``num_steps`` on; the floor (0 < end <= start).
        num_steps: T, the length of the decay (>= 1).

    Example: ``ExponentialSchedule(5.0, 0.1, 1000)(500)`` is ``5 * 0.02**0.5`` ≈ 0.71.

    Reference: the common annealing recipe; Jang, Gu & Poole (2017). Chapter 5.
    """

    start: float = 5.0
    end: float = 0.1
    num_steps: int = 1000

    def __post_init__(self) -> None:
        check_real(self.start, "start", minimum=0.0, open_min=True)
        check_real(self.end, "end", minimum=0.0, open_min=True)
        check_int(self.num_steps, "num_steps", minimum=1)
        if self.end > self.start:
            raise ValueError(
                f"end must be <= start for a cooling schedule, got end={self.end} > start={self.start}"
            )

    @property
    def floor(self) -> float:
        """The lowest temperature the schedule returns."""
        return float(self.end)

    def __call__(self, step: int) -> float:
        """The temperature at ``step`` (>= 0)."""
        fraction = min(check_real(step, "step", minimum=0.0), self.num_steps) / self.num_steps
        return max(self.floor, self.start * (self.end / self.start) ** fraction)


@dataclass(frozen=True)
class JangSchedule:
    """Jang et al.'s schedule: exponential decay, updated every ``every`` steps, floored.

    .. math:: \\tau(t) = \\max\\big(\\tau_{min},\\ \\tau_0\\, e^{-r\\, N \\lfloor t/N \\rfloor}\\big)

    Args:
        rate: r > 0, the decay rate per step.
        floor: the minimum temperature (0 < floor <= start); 0.5 in the paper.
        every: N >= 1; the temperature changes only at multiples of N.
        start: τ₀, the temperature at step 0 (1 in the paper).

    Reference: Jang, Gu & Poole (2017). Chapter 5.
    """

    rate: float = 1e-4
    floor: float = 0.5
    every: int = 500
    start: float = 1.0

    def __post_init__(self) -> None:
        check_real(self.rate, "rate", minimum=0.0, open_min=True)
        check_real(self.floor, "floor", minimum=0.0, open_min=True)
        check_real(self.start, "start", minimum=0.0, open_min=True)
        check_int(self.every, "every", minimum=1)
        if self.floor > self.start:
            raise ValueError(f"floor must be <= start, got floor={self.floor} > start={self.start}")

    def __call__(self, step: int) -> float:
        """The temperature at ``step`` (>= 0)."""
        held = self.every * math.floor(check_real(step, "step", minimum=0.0) / self.every)
        return max(float(self.floor), self.start * math.exp(-self.rate * held))


def schedule_frame(schedules: Mapping[str, Callable[[int], float]], steps: Iterable[int]) -> pd.DataFrame:
    """Tidy table of schedules for plotting: columns ``schedule``, ``step``, ``tau``.

    Args:
        schedules: name -> schedule (any callable ``step -> tau``).
        steps: the steps to evaluate.
    """
    steps = list(steps)
    rows = [(name, t, float(fn(t))) for name, fn in schedules.items() for t in steps]
    return pd.DataFrame(rows, columns=["schedule", "step", "tau"])
