"""Timing helpers for the benchmark: paired, interleaved measurements in one process."""

from __future__ import annotations

import statistics
from collections.abc import Callable

from torch.utils import benchmark


def seconds_per_call(fn: Callable[[], object], min_run_time: float = 0.1) -> float:
    """Median seconds per call of ``fn`` (``torch.utils.benchmark``, blocked autorange)."""
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def paired(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 7, min_run_time: float = 0.05
) -> dict[str, float]:
    """Time two callables in alternating rounds; report medians and the median per-round ratio.

    Alternating rounds put both under the same machine load, so the ratio is far more
    stable than either time on a shared machine. ``ratio`` = time(theirs) / time(ours):
    above 1 means ours has the higher throughput.
    """
    timers = [benchmark.Timer(stmt="fn()", globals={"fn": fn}) for fn in (ours, theirs)]
    number = _calls_for(ours, min_run_time)
    times: list[tuple[float, float]] = []
    for _ in range(rounds):
        t_ours = timers[0].timeit(number).median
        t_theirs = timers[1].timeit(number).median
        times.append((t_ours, t_theirs))
    ratios = [b / a for a, b in times]
    return {
        "ours_s": statistics.median(a for a, _ in times),
        "theirs_s": statistics.median(b for _, b in times),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def _calls_for(fn: Callable[[], object], min_run_time: float) -> int:
    """How many calls of ``fn`` fill about ``min_run_time`` seconds."""
    per_call = seconds_per_call(fn, min_run_time=min_run_time / 2)
    return max(1, int(min_run_time / max(per_call, 1e-9)))
