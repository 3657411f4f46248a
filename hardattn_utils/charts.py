"""Explorers that work without a kernel: a precomputed sweep drawn with Vega-Lite.

Each ipywidgets explorer of :mod:`hardattn_utils.widgets` needs a live kernel, so on the
static site its sliders would do nothing. Its twin here computes the whole sweep of
the explored parameter in Python once, stores it in the chart, and binds a slider to
it: the browser redraws from the stored data. The site serves Vega, Vega-Lite and
vega-embed itself (``book/_ext/vendor_assets.py``), so the charts work offline.

Chapter 1 (:func:`attention_sweep_chart`) and chapter 5 (:func:`temperature_sweep_chart`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence

import torch

from ._checks import check_int, check_real
from .attention import masked_softmax
from .plotting import estimator_color
from .sampling import gumbel_softmax

__all__ = ["SweepChart", "attention_sweep_chart", "temperature_sweep_chart"]

#: Where the site serves the scripts, relative to a chapter's page.
VENDOR = "../_static/vendor/vega"
_SCRIPTS = ("vega.min.js", "vega-lite.min.js", "vega-embed.min.js")


class SweepChart:
    """A Vega-Lite spec with its data inline; displays as HTML that draws it in the browser.

    The HTML loads the site's own copies of the Vega scripts (with require.js when the
    page has it, as pages with ipywidgets do) and renders to SVG. Its text is a pure
    function of the spec, so stored outputs compare equal under nbval.

    Attributes:
        spec: the Vega-Lite specification (a dict, JSON-ready).
        name: a short identifier, also the HTML element's id.
    """

    def __init__(self, spec: dict, name: str) -> None:
        self.spec, self.name = spec, name

    def __repr__(self) -> str:
        return f"<{self.name}: an interactive chart; on the site or in a browser, move its slider>"

    def to_html(self) -> str:
        """The ``<div>`` and the script that draws the chart."""
        spec = json.dumps(self.spec, sort_keys=True, separators=(",", ":"))
        paths = json.dumps({n.removesuffix(".min.js"): f"{VENDOR}/{n[:-3]}" for n in _SCRIPTS})
        return (
            f'<div id="{html.escape(self.name)}" class="sweep-chart"></div>\n<script>\n'
            f"(function() {{\n  var spec = {spec};\n  var id = {json.dumps('#' + self.name)};\n"
            f"  var paths = {paths};\n"
            "  function draw(embed) { embed(id, spec, {renderer: 'svg', actions: false}); }\n"
            "  if (typeof window.vegaEmbed === 'function') { draw(window.vegaEmbed); return; }\n"
            "  if (typeof window.requirejs === 'function') {\n"
            "    window.requirejs.config({paths: paths});\n"
            "    window.requirejs(['vega-embed'], draw); return;\n  }\n"
            "  var names = ['vega', 'vega-lite', 'vega-embed'];\n"
            "  (function next(i) {\n"
            "    if (i === names.length) { draw(window.vegaEmbed); return; }\n"
            "    var s = document.createElement('script'); s.src = paths[names[i]] + '.js';\n"
            "    s.onload = function() { next(i + 1); }; document.head.appendChild(s);\n"
            "  })(0);\n})();\n</script>"
        )

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": self.to_html(), "text/plain": repr(self)}


def _slider(name: str, low: float, high: float, step: float, value: float, label: str) -> dict:
    return {
        "name": name,
        "value": value,
        "bind": {"input": "range", "min": low, "max": high, "step": step, "name": label},
    }


def attention_sweep_chart(
    scores: Sequence[float] = (1.2, 0.8, 0.5, -0.2, 0.3),
    position: int = 0,
    *,
    low: float = -3.0,
    high: float = 3.0,
    step: float = 0.1,
) -> SweepChart:
    """Soft weights and the hard pick as one score moves: the twin of ``attention_explorer``.

    For every value ``v`` of ``scores[position]`` on the grid ``low, low+step, …, high``
    the chart stores ``softmax(s)`` and the argmax; a slider selects ``v``.

    .. math:: \\alpha(v) = \\mathrm{softmax}(s_0, …, s_{p-1}, v, s_{p+1}, …)

    Args:
        scores: (m,) the scores.
        position: the score the slider moves.
        low, high, step: the slider's grid.

    Chapter 1.
    """
    base = torch.as_tensor([float(s) for s in scores])  # (m,)
    position = check_int(position, "position", minimum=0, maximum=len(base) - 1)
    step = check_real(step, "step", minimum=0.0, open_min=True)
    count = check_int(
        round((check_real(high, "high") - check_real(low, "low")) / step), "grid size", minimum=1
    )
    grid = torch.tensor([round(low + i * step, 6) for i in range(count + 1)])  # (V,)
    sweep = base.expand(len(grid), -1).clone()  # (V, m)
    sweep[:, position] = grid
    weights = masked_softmax(sweep)  # (V, m)
    picks = sweep.argmax(-1)  # (V,)
    rows = [
        {"v": round(float(v), 4), "i": i, "weight": round(float(w), 4), "pick": bool(i == int(k))}
        for v, row, k in zip(grid, weights, picks, strict=True)
        for i, w in enumerate(row)
    ]
    start = round(float(base[position]), 4)
    hard, soft = estimator_color("hard attention"), estimator_color("soft attention")
    bars = {
        "mark": "bar",
        "encoding": {
            "x": {"field": "i", "type": "ordinal", "title": "position i", "axis": {"labelAngle": 0}},
            "y": {
                "field": "weight",
                "type": "quantitative",
                "title": "soft weight α_i",
                "scale": {"domain": [0, 1]},
            },
            "color": {
                "field": "pick",
                "type": "nominal",
                "title": "hard attention picks it",
                "scale": {"domain": [True, False], "range": [hard, soft]},
            },
        },
    }
    labels = {
        "mark": {"type": "text", "dy": -8},
        "encoding": {
            "x": {"field": "i", "type": "ordinal"},
            "y": {"field": "weight", "type": "quantitative"},
            "text": {"field": "weight", "type": "quantitative", "format": ".2f"},
        },
    }
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": f"Move s_{position}: the soft weights shift smoothly, the hard pick jumps",
        "width": 360,
        "height": 220,
        "data": {"values": rows},
        "params": [_slider("v", low, high, step, start, f"s_{position} ")],
        "transform": [{"filter": "abs(datum.v - v) < 1e-6 + " + repr(step / 2)}],
        "layer": [bars, labels],
    }
    return SweepChart(spec, f"attention-sweep-{position}")


def temperature_sweep_chart(
    logits: Sequence[float] = (1.0, 0.0, -1.0),
    *,
    log10_taus: Sequence[float] = tuple(round(-2 + 0.2 * i, 1) for i in range(16)),
    num_samples: int = 150,
    seed: int = 0,
) -> SweepChart:
    """Gumbel-Softmax samples on the 3-simplex as τ moves: the twin of ``temperature_explorer``.

    For every τ of the grid the chart stores ``num_samples`` relaxed samples (the same
    Gumbel noise at every τ, so the slider shows how τ moves the *same* draws) and
    their mean; a slider on log10 τ selects one.

    .. math:: y = \\mathrm{softmax}((\\ell + g)/\\tau)

    Args:
        logits: three logits ℓ.
        log10_taus: the grid of log10 τ.
        num_samples: samples per τ.
        seed: seed of the noise.

    Chapter 5.
    """
    logits_t = torch.as_tensor([float(x) for x in logits])
    if logits_t.shape != (3,):
        raise ValueError(f"logits must hold exactly 3 values, got shape {tuple(logits_t.shape)}")
    num_samples = check_int(num_samples, "num_samples", minimum=1)
    noise_logits = logits_t.expand(num_samples, 3)  # (S, 3)
    corners = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.5, math.sqrt(3) / 2]])  # (3, 2)
    rows = []
    for log_tau in log10_taus:
        generator = torch.Generator().manual_seed(seed)  # the same noise at every τ
        y = gumbel_softmax(noise_logits, tau=10.0 ** float(log_tau), generator=generator)  # (S, 3)
        xy = y @ corners  # (S, 2)
        mean = y.mean(0) @ corners
        rows += [
            {"t": float(log_tau), "x": round(float(a), 3), "y": round(float(b), 3), "kind": "sample y"}
            for a, b in xy
        ]
        rows.append(
            {
                "t": float(log_tau),
                "x": round(float(mean[0]), 3),
                "y": round(float(mean[1]), 3),
                "kind": "mean E[y]",
            }
        )
    target = torch.softmax(logits_t, -1) @ corners
    rows += [
        {"t": float(t), "x": round(float(target[0]), 3), "y": round(float(target[1]), 3), "kind": "π"}
        for t in log10_taus
    ]
    kinds = ["sample y", "mean E[y]", "π"]
    colours = [estimator_color("Gumbel-Softmax"), estimator_color("hard attention"), estimator_color("exact")]
    x_axis = {"field": "x", "type": "quantitative", "axis": None, "scale": {"domain": [-0.05, 1.05]}}
    y_axis = {"field": "y", "type": "quantitative", "axis": None, "scale": {"domain": [-0.05, 0.92]}}
    vertices = [(0, 0), (1, 0), (0.5, 0.866), (0, 0)]
    triangle = {  # its own data; both layers share the x and y scales (Vega-Lite needs them equal)
        "data": {"values": [{"x": x, "y": y, "k": k} for k, (x, y) in enumerate(vertices)]},
        "mark": {"type": "line", "color": "#999999"},
        "encoding": {"x": x_axis, "y": y_axis, "order": {"field": "k", "type": "quantitative"}},
    }
    points = {
        "transform": [{"filter": "abs(datum.t - t) < 0.05"}],
        "mark": {"type": "point", "filled": True},
        "encoding": {
            "x": x_axis,
            "y": y_axis,
            "color": {
                "field": "kind",
                "type": "nominal",
                "title": "",
                "legend": {"orient": "bottom"},
                "scale": {"domain": kinds, "range": colours},
            },
            "size": {
                "field": "kind",
                "type": "nominal",
                "legend": None,
                "scale": {"domain": kinds, "range": [12, 160, 200]},
            },
            "shape": {
                "field": "kind",
                "type": "nominal",
                "legend": None,
                "scale": {"domain": kinds, "range": ["circle", "cross", "diamond"]},
            },
        },
    }
    start = min(log10_taus, key=lambda t: abs(t))
    spec = {
        "$schema": "https://vega.github.io/schema/vega-lite/v6.json",
        "title": {
            "text": "Gumbel-Softmax samples on the simplex",
            "subtitle": {"expr": "'τ = ' + format(pow(10, t), '.3~g')"},
        },
        "width": 320,
        "height": 280,
        "data": {"values": rows},
        "params": [_slider("t", min(log10_taus), max(log10_taus), 0.2, start, "log10 τ ")],
        "layer": [triangle, points],
    }
    return SweepChart(spec, "temperature-sweep")
