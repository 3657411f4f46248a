"""ipywidgets explorers. Each has a static twin (a function returning a
matplotlib figure) that teaches the same thing on the static site.

Widgets need a live kernel; the static site shows the saved state and the twin.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure

from .attention import masked_softmax
from .plotting import estimator_color

__all__ = ["attention_explorer", "attention_panel", "score_sweep_figure"]


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
