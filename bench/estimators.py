"""Work-normalised efficiency of every registered gradient estimator on one fixed problem.

An estimator that halves the variance but takes twice as long per estimate buys
nothing: averaging two cheap estimates would do as well. ``variance × time`` (lower
is better) is the figure of merit that accounts for this.
"""

from __future__ import annotations

import time

import torch

import hardattn_utils as ha

K = 8
NUM_DRAWS = 10_000


def problem() -> tuple[torch.Tensor, ha.LossFn]:
    """Fixed logits (K,) and a quadratic loss f(z) = ||z - t||² (defined for relaxed z too)."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(K, generator=gen)
    target = torch.softmax(torch.randn(K, generator=gen), -1)
    return logits, lambda z: ((z - target) ** 2).sum(-1)


def _timed_draws(name: str, logits: torch.Tensor, f: ha.LossFn) -> tuple[torch.Tensor, float]:
    """(N, K) gradient estimates and the median wall seconds for drawing all N (7 repeats)."""
    times, draws = [], None
    for repeat in range(7):
        gen = torch.Generator().manual_seed(repeat)
        start = time.perf_counter()
        draws = ha.gradient_samples(name, logits, f, NUM_DRAWS, gen)
        times.append(time.perf_counter() - start)
    return draws, sorted(times)[3]


def estimator_rows() -> list[dict[str, object]]:
    """One row per name in ``ha.ESTIMATORS``: variance, bias, time per estimate and their product."""
    logits, f = problem()
    exact = ha.exact_gradient(logits, f).double()
    rows = []
    for name in list(ha.ESTIMATORS):
        try:
            draws, seconds = _timed_draws(name, logits, f)
        except Exception as error:  # an estimator needing extra arguments is reported, not fatal
            rows.append({"estimator": name, "note": f"skipped: {type(error).__name__}: {error}"[:80]})
            continue
        draws = draws.double()
        variance = draws.var(0).sum().item()  # trace of the covariance
        per_estimate = seconds / NUM_DRAWS
        rows.append(
            {
                "estimator": name,
                "variance (trace)": variance,
                "bias² (‖mean − exact‖²)": (draws.mean(0) - exact).pow(2).sum().item(),
                "time per estimate (µs)": per_estimate * 1e6,
                "variance × time (µs)": variance * per_estimate * 1e6,
                "note": "",
            }
        )
    return rows
