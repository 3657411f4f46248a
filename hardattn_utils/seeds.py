"""Claims over seeds: run an experiment for several seeds, train seed copies together,
and summarise the spread.

A statement that rests on training or sampling must hold over at least five seeds
(:data:`SEEDS`), with the spread shown. :func:`over_seeds` runs any experiment
once per seed; :class:`SeedStack` trains the seed copies of a small model in one
vectorised pass (``torch.func.stack_module_state`` + ``vmap``), which on one CPU
thread is several times cheaper than a loop; :func:`spread` turns the results into
mean ± standard error and min–max. Chapter 3 introduces them.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn
from torch.func import functional_call, stack_module_state, vmap

from ._checks import check_int
from .config import full

__all__ = ["SEEDS", "SeedStack", "mean_se", "over_seeds", "seeds", "split_seeds", "spread"]

#: The seeds every claim that rests on training or sampling is checked over.
SEEDS: tuple[int, ...] = (0, 1, 2, 3, 4)


def seeds(quick: int = 5, full_count: int = 20) -> list[int]:
    """``0 .. quick-1`` normally, ``0 .. full_count-1`` in the FULL version (≥ 5)."""
    count = full_count if full() else quick
    return list(range(check_int(count, "full_count" if full() else "quick", minimum=5)))


def over_seeds(
    run: Callable[[int], Mapping[str, float] | pd.DataFrame], seeds: Iterable[int] = SEEDS
) -> pd.DataFrame:
    """Run ``run(seed)`` for every seed and stack the results with a ``seed`` column.

    Args:
        run: ``seed -> {metric: value}`` (one row) or a DataFrame (its rows).
        seeds: the seeds.

    Returns:
        A tidy DataFrame with a ``seed`` column first.
    """
    frames = []
    for seed in seeds:
        result = run(seed)
        frame = result.copy() if isinstance(result, pd.DataFrame) else pd.DataFrame([dict(result)])
        frames.append(frame.assign(seed=seed))
    if not frames:
        raise ValueError("seeds must not be empty")
    out = pd.concat(frames, ignore_index=True)
    return out[["seed", *[c for c in out.columns if c != "seed"]]]


def spread(frame: pd.DataFrame, value: str, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Mean, standard error, min and max of ``value`` over seeds, per group.

    Args:
        frame: one row per (group, seed).
        value: the column to summarise.
        by: grouping column(s); ``None`` summarises the whole column.

    Returns:
        Columns ``n, mean, se, min, max`` (se = std / √n, with n − 1 in the std).
    """
    if value not in frame.columns:
        raise ValueError(f"value {value!r} is not a column: {list(frame.columns)}")
    groups = frame.groupby(by, sort=False)[value] if by is not None else frame[value]
    stats = groups.agg(["count", "mean", "std", "min", "max"])
    stats = stats.to_frame().T if isinstance(stats, pd.Series) else stats
    stats["se"] = stats["std"] / stats["count"].pow(0.5)
    stats = stats.rename(columns={"count": "n"})[["n", "mean", "se", "min", "max"]]
    return stats.astype({"n": int})


def mean_se(values: Iterable[float], digits: int = 3) -> str:
    """``"mean ± se (min–max)"`` of a few seeds' values, for prose-like evidence."""
    xs = [float(v) for v in values]
    if len(xs) < 2:
        raise ValueError(f"mean_se needs at least 2 values, got {len(xs)}")
    mean = sum(xs) / len(xs)
    se = math.sqrt(sum((x - mean) ** 2 for x in xs) / (len(xs) - 1) / len(xs))
    return f"{mean:.{digits}f} ± {se:.{digits}f} ({min(xs):.{digits}f}–{max(xs):.{digits}f})"


class SeedStack(nn.Module):
    """Independent copies of a model, one per seed, evaluated in one vectorised call.

    Copy ``s`` is built by ``make()`` right after ``torch.manual_seed(seeds[s])``, so
    it starts exactly as a model built alone with that seed would. The copies'
    parameters are stacked along a leading axis and registered here, so one
    optimiser trains them all; because Adam and SGD act element by element, the
    copies train exactly as they would apart, provided the loss is the *sum* of
    the copies' losses (not their mean).

    Use :meth:`apply` for anything a copy computes::

        stack = ha.SeedStack(lambda: Net(), seeds=range(5))
        out = stack.apply(lambda net, x: net(x), x)      # (5, *net(x).shape)

    Args:
        make: builds one copy (no arguments).
        seeds: one copy per seed.

    Chapter 3.
    """

    def __init__(self, make: Callable[[], nn.Module], seeds: Iterable[int] = SEEDS) -> None:
        super().__init__()
        self.seeds = list(seeds)
        if not self.seeds:
            raise ValueError("seeds must not be empty")
        copies = []
        for seed in self.seeds:
            torch.manual_seed(seed)
            copies.append(make())
        params, buffers = stack_module_state(copies)
        self._names = list(params)
        self.stacked = nn.ParameterList(nn.Parameter(params[n]) for n in self._names)
        self._buffers_stacked = buffers
        self._base = copy.deepcopy(copies[0]).to("meta")

    def __len__(self) -> int:
        return len(self.seeds)

    def apply(self, fn: Callable[..., Any], *inputs: Any, in_dims: Sequence[int | None] | None = None) -> Any:
        """``fn(copy, *inputs)`` for every copy at once; outputs get a leading seed axis.

        Args:
            fn: ``(model, *inputs) -> Tensor`` (or a tuple of them); it must not call
                ``.item()`` or branch on tensor values.
            *inputs: shared by every copy by default.
            in_dims: per input, the axis that holds one slice per seed (``0``), or
                ``None`` to share it; default: all shared.
        """
        dims = tuple(in_dims) if in_dims is not None else (None,) * len(inputs)
        if len(dims) != len(inputs):
            raise ValueError(f"in_dims has {len(dims)} entries for {len(inputs)} inputs")
        base = self._base

        def one(params: dict[str, Tensor], buffers: dict[str, Tensor], *args: Any) -> Any:
            return functional_call(_Call(base, fn), _prefix(params, buffers), args)

        params = dict(zip(self._names, self.stacked, strict=True))
        return vmap(one, in_dims=(0, 0, *dims), randomness="different")(
            params, self._buffers_stacked, *inputs
        )

    def copy_of(self, index: int) -> nn.Module:
        """A standalone copy with the current weights of copy ``index`` (for plotting, inspection)."""
        model = copy.deepcopy(self._base).to_empty(device="cpu")
        state = {n: p[index].detach().clone() for n, p in zip(self._names, self.stacked, strict=True)}
        state.update({n: b[index].clone() for n, b in self._buffers_stacked.items()})
        model.load_state_dict(state)
        return model


class _Call(nn.Module):
    """Wraps a model so ``functional_call`` can run an arbitrary ``fn(model, *inputs)``."""

    def __init__(self, model: nn.Module, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.model, self.fn = model, fn

    def forward(self, *inputs: Any) -> Any:
        return self.fn(self.model, *inputs)


def _prefix(params: Mapping[str, Tensor], buffers: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {f"model.{k}": v for k, v in {**params, **buffers}.items()}


def split_seeds(log: pd.DataFrame, seeds: Sequence[int]) -> pd.DataFrame:
    """A :class:`SeedStack` run's log, one seed per row: metric ``name[i]`` becomes
    metric ``name`` with ``seed = seeds[i]``.

    Args:
        log: a tidy :func:`hardattn_utils.fit` log (columns ``metric``, ``value``, ...)
            whose metrics carry the copy index, ``accuracy[0]``, ``accuracy[1]``, ...
        seeds: the seed of each copy, in the stack's order.
    """
    parts = log["metric"].str.extract(r"^(?P<metric>.+)\[(?P<copy>\d+)\]$")
    out = log.assign(metric=parts["metric"], seed=[seeds[int(i)] for i in parts["copy"]])
    return out.reset_index(drop=True)
