"""The book's only styling code: one seaborn theme, one fixed colour per
estimator, and plot helpers that take tidy DataFrames.

Every chapter calls :func:`set_theme` in its set-up cell.
"""

from __future__ import annotations

from collections.abc import Iterable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = [
    "ESTIMATOR_COLORS",
    "estimator_color",
    "estimator_palette",
    "plot_curves",
    "plot_gradient_stats",
    "new_figure",
    "plot_weights",
    "set_theme",
]

_CB = sns.color_palette("colorblind", 10).as_hex()
#: Fixed colour per estimator (and per reference line), from seaborn's
#: colour-blind-safe palette; every figure of the book uses these.
ESTIMATOR_COLORS: dict[str, str] = {
    "exact": "#222222",
    "soft attention": _CB[7],
    "hard attention": _CB[0],
    "REINFORCE": _CB[0],
    "REINFORCE + baseline": _CB[9],
    "REINFORCE + moving average": _CB[9],
    "REINFORCE + self-critical": "#7f3c8d",  # deep purple, apart from ST softmax
    "REINFORCE + learned baseline": _CB[5],
    "REINFORCE + optimal baseline": _CB[8],
    "RLOO": _CB[2],
    "control variate": _CB[6],
    "Gumbel-Softmax": _CB[1],
    "ST Gumbel-Softmax": "#332288",  # indigo: apart from Gumbel-Softmax's orange
    "ST softmax": _CB[4],
    "REBAR": "#117733",  # green, darker than RLOO's
    "RELAX": "#44AA99",  # teal
    "Gumbel-Rao": "#CC6677",  # rose, apart from the Gumbel-Softmax pair
    "ReinMax": "#999933",  # olive
    # Sparse maps (chapter 12): between soft attention's grey and hard attention's blue.
    "sparsemax": "#882255",  # wine
    "1.5-entmax": "#AA4499",  # purple-pink
    "top-k softmax": "#DDCC77",  # sand
    # Expert routing and memory lookup (chapter 13).
    "dense mixture": _CB[7],  # the soft blend over experts: soft attention's grey
    "top-1 router": "#1F78B4",  # blue
    "top-2 router": "#6A3D9A",  # violet
    "exact top-k": "#004488",  # a hard read: dark blue, apart from REINFORCE
    "faiss IVF": "#E31A1C",  # red
}
_EXTRA = sns.color_palette("dark", 10).as_hex()


def set_theme() -> None:
    """Apply the book's one theme (seaborn whitegrid, colour-blind palette)."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.6),
            "figure.dpi": 100,
            "savefig.dpi": 100,
            "axes.titlesize": "medium",
            "axes.titleweight": "bold",
            "legend.frameon": False,
        }
    )


def estimator_color(name: str) -> str:
    """The fixed colour of an estimator; unknown names get a stable extra colour."""
    if name in ESTIMATOR_COLORS:
        return ESTIMATOR_COLORS[name]
    return _EXTRA[sum(name.encode()) % len(_EXTRA)]


def estimator_palette(names: Iterable[str]) -> dict[str, str]:
    """``{name: colour}`` for seaborn's ``palette=`` argument."""
    return {name: estimator_color(name) for name in names}


def plot_curves(
    frame: pd.DataFrame,
    metric: str,
    *,
    x: str = "step",
    hue: str = "label",
    ax: Axes | None = None,
    title: str | None = None,
    ylabel: str | None = None,
    logy: bool = False,
    errorbar: str | tuple[str, float] | None = "se",
    legend_title: str | None = "estimator",
) -> Axes:
    """Line plot of one metric of a tidy frame (columns ``hue``, ``x``, ``metric``, ``value``).

    With several rows per (hue, x) — one per seed — the line is their mean and the
    band ± one standard error (``errorbar="se"``; never seaborn's bootstrap).
    ``legend_title`` replaces seaborn's default (the column's name).
    """
    data = frame[frame["metric"] == metric]
    if data.empty:
        raise ValueError(f"metric {metric!r} not in frame; has {sorted(frame['metric'].unique())}")
    ax = ax or plt.subplots()[1]
    palette = estimator_palette(data[hue].unique())
    sns.lineplot(data=data, x=x, y="value", hue=hue, palette=palette, errorbar=errorbar, ax=ax)
    ax.set(title=title or metric, xlabel=x, ylabel=ylabel or metric)
    if ax.get_legend() is not None:
        ax.legend(title=legend_title)
    if logy:
        ax.set_yscale("log")
    return ax


def plot_gradient_stats(stats: pd.DataFrame, *, ax: Axes | None = None, title: str | None = None) -> Axes:
    """Estimated gradient means with 95 % intervals beside the exact gradient.

    Args:
        stats: output of :func:`hardattn_utils.gradient_stats` (one or more estimators).
    """
    ax = ax or plt.subplots()[1]
    names = list(stats["estimator"].unique())
    width = 0.8 / (len(names) + 1)
    for j, name in enumerate(names):
        rows = stats[stats["estimator"] == name]
        xs = rows["coordinate"].to_numpy() + (j + 1) * width - 0.4
        ax.errorbar(
            xs,
            rows["mean"],
            yerr=1.96 * rows["se"],
            fmt="o",
            ms=4,
            capsize=3,
            color=estimator_color(name),
            label=f"{name} (mean ± 95% CI)",
        )
    first = stats[stats["estimator"] == names[0]]
    ax.scatter(
        first["coordinate"] - 0.4,
        first["exact"],
        marker="_",
        s=300,
        color=estimator_color("exact"),
        label="exact (enumeration)",
        zorder=3,
    )
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set(
        title=title or "Gradient estimates vs the exact gradient",
        xlabel="logit coordinate k",
        ylabel="∂L/∂ℓ_k",
    )
    ax.set_xticks(np.unique(stats["coordinate"]))
    ax.legend(fontsize="small")
    return ax


def plot_weights(
    weights: np.ndarray,
    *,
    ax: Axes | None = None,
    title: str = "Attention weights",
    xlabel: str = "position i",
    ylabel: str = "row",
    annotate: bool = True,
) -> Axes:
    """Heat map of attention weights (rows × positions), values in [0, 1]."""
    weights = np.atleast_2d(np.asarray(weights, dtype=float))
    ax = ax or plt.subplots()[1]
    sns.heatmap(
        weights,
        vmin=0,
        vmax=1,
        cmap="viridis",
        annot=annotate and weights.size <= 100,
        fmt=".2f",
        cbar_kws={"label": "weight"},
        ax=ax,
    )
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    return ax


def new_figure(ncols: int = 1, *, width: float = 6.4, height: float = 3.6) -> tuple[Figure, np.ndarray]:
    """A figure with ``ncols`` side-by-side axes (always returned as an array)."""
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, height), squeeze=False)
    return fig, axes[0]
