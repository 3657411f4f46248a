"""Draw the home page's cover figure, book/_static/cover.png, from the package itself.

Left: soft attention's weights over five positions and the one position hard
attention selects. Right: every gradient estimator of the book on one small
problem, placed by its measured noise (standard deviation of one estimate) and
its measured bias against the exact gradient (enumeration).

Run from the repository root: ``.venv/bin/python book/_ext/make_cover.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import torch  # noqa: E402

import hardattn_utils as ha  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "_static" / "cover.png"
SCORES = (1.2, 0.8, 0.5, -0.2, 0.3)
NUM_DRAWS = 20_000


def estimator_points() -> list[tuple[str, float, float, float]]:
    """(estimator, std of one estimate, |bias|, standard error of |bias|) for each estimator."""
    logits = torch.tensor(SCORES)
    target = torch.tensor([0.0, 1.0, 0.0, 0.0, 0.0])  # the loss prefers position 1

    def f(z: torch.Tensor) -> torch.Tensor:
        return ((z - target) ** 2).sum(-1)

    points = []
    for k, name in enumerate(ha.ESTIMATORS):
        stats = ha.gradient_stats(name, logits, f, NUM_DRAWS, generator=torch.Generator().manual_seed(k))
        std = float(np.sqrt(stats["variance"].sum()))
        points.append((name, std, float(np.hypot.reduce(stats["bias"])), float(np.hypot.reduce(stats["se"]))))
    return points


def main(out: Path = OUT) -> Path:
    ha.set_seed(0)
    ha.set_theme()
    fig, (left, right) = ha.new_figure(2, width=4.6, height=4.2)
    ha.attention_panel(SCORES, ax=left, title="Soft attention blends, hard attention picks")
    for name, std, bias, se in estimator_points():
        right.errorbar(std, bias, yerr=2 * se, fmt="o", ms=8, color=ha.estimator_color(name), label=name)
    right.set(
        title="Gradient estimators: noise and bias",
        xlabel="noise: std of one gradient estimate",
        ylabel="bias: |mean − exact| (± 2 SE)",
    )
    right.axhline(0, color="0.5", lw=0.8)
    handles, labels = right.get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize="small", frameon=False)
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.savefig(out, dpi=110)
    return out


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else OUT))
