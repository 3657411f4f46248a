"""Timing helpers for the benchmark: paired, finely interleaved measurements in one process."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from torch.utils import benchmark


def seconds_per_call(fn: Callable[[], object], min_run_time: float = 0.1) -> float:
    """Median seconds per call of ``fn`` (``torch.utils.benchmark``, blocked autorange)."""
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn})
    return timer.blocked_autorange(min_run_time=min_run_time).median


def paired(
    ours: Callable[[], object], theirs: Callable[[], object], rounds: int = 41, block_s: float = 0.01
) -> dict[str, float]:
    """Time two callables in many alternating short blocks; report medians and the median ratio.

    Each round times a block of ``number`` calls of ``ours`` and then of ``theirs``
    (about ``block_s`` seconds each), so a change of machine load falls on both
    alike; the median over rounds of the per-round ratio is far steadier than either
    time on a shared machine. Times are this process's CPU time
    (``time.process_time``): with torch on one thread that is the time the calls
    ran, without the time the process waited for a core that another job held.
    ``ratio`` = time(theirs) / time(ours): above 1 means ours has the higher throughput.
    """
    for fn in (ours, theirs):  # warm-up: allocator, dispatcher caches
        _block(fn, 3)
    number = max(1, int(block_s / max(seconds_per_call(theirs, min_run_time=block_s), 1e-9)))
    times = [(_block(ours, number) / number, _block(theirs, number) / number) for _ in range(rounds)]
    ratios = [b / a for a, b in times]
    return {
        "ours_s": statistics.median(a for a, _ in times),
        "theirs_s": statistics.median(b for _, b in times),
        "ratio": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
    }


def _block(fn: Callable[[], object], number: int) -> float:
    start = time.process_time()
    for _ in range(number):
        fn()
    return time.process_time() - start
