"""ipywidgets explorers. Each has a static twin (a function returning a
matplotlib figure) that teaches the same thing on the static site.

Widgets need a live kernel. Their kernel-free twins, which the site shows, are in
:mod:`hardattn_utils.charts`; the matplotlib figures here are the printed versions.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .attention import masked_softmax
from .plotting import estimator_color
from .sampling import gumbel_softmax

__all__ = [
    "attention_explorer",
    "attention_panel",
    "score_sweep_figure",
    "simplex_panel",
    "simplex_samples_figure",
    "temperature_explorer",
]


def attention_panel(scores: Sequence[float], ax=None, title: str | None = None):
    """Bar chart of soft weights ``softmax(scores)`` with the hard (argmax) pick marked."""
    scores_t = torch.as_tensor(np.asarray(scores, dtype=np.float32))
    weights = masked_softmax(scores_t).numpy()
    pick = int(scores_t.argmax())
    ax = ax or plt.subplots(figsize=(5, 3))[1]
    colors = [
        estimator_color("hard attention") if i == pick else estimator_color("soft attention")
        for i in range(len(weights))
    ]
    ax.bar(range(len(weights)), weights, color=colors)
    for i, w in enumerate(weights):
        ax.text(i, w + 0.02, f"{w:.2f}", ha="center", fontsize="small")
    ax.set(
        ylim=(0, 1.1),
        xlabel="position i",
        ylabel="soft weight α_i",
        title=title or f"soft weights; hard attention picks position {pick}",
    )
    ax.set_xticks(range(len(weights)))
    return ax


def score_sweep_figure(
    scores: Sequence[float], position: int = 0, grid: Sequence[float] = (-2.0, 0.0, 1.2, 2.0, 4.0)
) -> Figure:
    """Static twin of :func:`attention_explorer`: one panel per value of ``scores[position]``."""
    fig, axes = plt.subplots(1, len(grid), figsize=(3.2 * len(grid), 3), sharey=True)
    for ax, value in zip(axes, grid, strict=True):
        varied = list(scores)
        varied[position] = value
        attention_panel(varied, ax=ax, title=f"s_{position} = {value:g}")
    fig.suptitle(f"Moving score s_{position}: soft weights shift smoothly, the hard pick jumps")
    fig.tight_layout()
    return fig


def attention_explorer(scores: Sequence[float] = (1.2, 0.8, 0.5, -0.2, 0.3)):
    """Sliders for each score -> soft weights and the hard pick (needs a live kernel)."""
    import ipywidgets as widgets

    sliders = [
        widgets.FloatSlider(
            value=float(s), min=-3, max=3, step=0.1, description=f"s_{i}", continuous_update=False
        )
        for i, s in enumerate(scores)
    ]
    out = widgets.Output()

    def redraw(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            attention_panel([s.value for s in sliders])
            plt.show()

    for s in sliders:
        s.observe(redraw, names="value")
    redraw()
    return widgets.HBox([widgets.VBox(sliders), out])


# --- Gumbel-Softmax on the 3-category simplex (chapter 5) ---------------------------------
_CORNERS = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]])


def _to_triangle(points: np.ndarray) -> np.ndarray:
    """Barycentric (..., 3) points on the simplex -> 2-D coordinates in an equilateral triangle."""
    return np.asarray(points, dtype=float) @ _CORNERS


def simplex_panel(
    logits: Sequence[float],
    tau: float,
    *,
    ax=None,
    num_samples: int = 400,
    generator: torch.Generator | None = None,
):
    """Scatter of Gumbel-Softmax samples ``y`` (K = 3) on the simplex, with ``E[y]`` and ``π``.

    Args:
        logits: three logits ℓ; ``π = softmax(ℓ)``.
        tau: temperature > 0.
        ax: axes to draw on (a new figure if None).
        num_samples: number of samples drawn.
        generator: source of randomness (a fixed seed if None, so the figure is stable).

    Chapter 5.
    """
    logits_t = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    if logits_t.shape != (3,):
        raise ValueError(f"logits must hold exactly 3 values, got shape {tuple(logits_t.shape)}")
    generator = generator or torch.Generator().manual_seed(0)
    samples = gumbel_softmax(logits_t.expand(num_samples, 3), tau=tau, generator=generator).numpy()
    probs = torch.softmax(logits_t, -1).numpy()
    ax = ax or plt.subplots(figsize=(3.6, 3.4))[1]
    ax.fill(*_CORNERS.T, facecolor="none", edgecolor="0.6", lw=1)
    xy = _to_triangle(samples)
    ax.scatter(
        xy[:, 0], xy[:, 1], s=6, alpha=0.35, color=estimator_color("Gumbel-Softmax"), label="samples y"
    )
    for point, marker, label, key in (
        (samples.mean(0), "X", "mean E[y]", "hard attention"),
        (probs, "*", "π", "exact"),
    ):
        x, y = _to_triangle(point)
        ax.scatter(
            [x],
            [y],
            s=140,
            marker=marker,
            color=estimator_color(key),
            edgecolor="white",
            zorder=3,
            label=label,
        )
    for k, (cx, cy) in enumerate(_CORNERS):
        ax.annotate(
            f"e{k}", (cx, cy), textcoords="offset points", xytext=(0, -12 if cy == 0 else 5), ha="center"
        )
    ax.set(title=f"τ = {tau:.3g}", xlabel="simplex (barycentric projection)", ylabel="", aspect="equal")
    ax.set_xticks([])
    ax.set_yticks([])
    return ax


def simplex_samples_figure(
    logits: Sequence[float] = (1.0, 0.0, -1.0),
    taus: Sequence[float] = (5.0, 1.0, 0.5, 0.1),
    *,
    num_samples: int = 400,
    seed: int = 0,
) -> Figure:
    """Static twin of :func:`temperature_explorer`: one simplex panel per temperature.

    High τ piles the samples near the centre (and E[y] away from π); low τ pushes
    them to the corners, which the categorical distribution chooses with
    probabilities π. Chapter 5.
    """
    fig, axes = plt.subplots(1, len(taus), figsize=(3.4 * len(taus), 3.6))
    for ax, tau in zip(np.atleast_1d(axes), taus, strict=True):
        simplex_panel(
            logits, tau, ax=ax, num_samples=num_samples, generator=torch.Generator().manual_seed(seed)
        )
    np.atleast_1d(axes)[0].legend(loc="upper left", fontsize="small")
    probs = ", ".join(f"{p:.2f}" for p in torch.softmax(torch.tensor(list(logits)), -1).tolist())
    fig.suptitle(f"Gumbel-Softmax samples on the simplex, π = ({probs}): lower τ pushes them to the corners")
    fig.tight_layout()
    return fig


def temperature_explorer(logits: Sequence[float] = (1.0, 0.0, -1.0)):
    """A log-temperature slider -> Gumbel-Softmax samples on the simplex (needs a live kernel)."""
    import ipywidgets as widgets

    slider = widgets.FloatLogSlider(
        value=1.0, base=10, min=-2, max=1, step=0.05, description="τ", continuous_update=False
    )
    out = widgets.Output()

    def redraw(_=None) -> None:
        with out:
            out.clear_output(wait=True)
            simplex_panel(logits, slider.value)
            plt.show()

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([slider, out])
