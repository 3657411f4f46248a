"""Kernel-free explorers: the sweep is complete and exact, the HTML is stable (chapters 1 and 5)."""

import json
import math
from collections import defaultdict

import pytest
import torch

import hardattn_utils as ha


def test_attention_sweep_stores_the_softmax_and_the_pick_for_every_slider_value():
    chart = ha.attention_sweep_chart((1.2, 0.8, 0.5), position=1, low=-1.0, high=1.0, step=0.5)
    rows = chart.spec["data"]["values"]
    by_value = defaultdict(list)
    for row in rows:
        by_value[row["v"]].append(row)
    assert sorted(by_value) == [-1.0, -0.5, 0.0, 0.5, 1.0]
    for v, group in by_value.items():
        exact = torch.softmax(torch.tensor([1.2, v, 0.5]), -1)
        assert [r["weight"] for r in group] == pytest.approx(exact.tolist(), abs=1e-4)
        assert [r["pick"] for r in group] == [i == int(exact.argmax()) for i in range(3)]
    (param,) = chart.spec["params"]
    assert param["bind"]["input"] == "range" and param["value"] == 0.8


def test_temperature_sweep_keeps_samples_on_the_simplex_and_the_noise_fixed_across_tau():
    chart = ha.temperature_sweep_chart((1.0, 0.0, -1.0), log10_taus=(-1.0, 0.0), num_samples=20)
    samples = [r for r in chart.spec["data"]["values"] if r["kind"] == "sample y"]
    assert len(samples) == 40
    height = math.sqrt(3) / 2
    for r in samples:  # inside the triangle (0,0), (1,0), (1/2, √3/2), to rounding
        assert -1e-3 <= r["y"] <= height * (1 - abs(2 * r["x"] - 1)) + 2e-3
    assert "τ" in json.dumps(chart.spec["title"], ensure_ascii=False)


def test_html_is_a_pure_function_of_the_spec_and_loads_the_site_copies():
    first, second = ha.attention_sweep_chart().to_html(), ha.attention_sweep_chart().to_html()
    assert first == second
    assert "../_static/vendor/vega/vega-embed.min" in first and "cdn" not in first.lower()
    bundle = ha.attention_sweep_chart()._repr_mimebundle_()
    assert set(bundle) == {"text/html", "text/plain"}


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"position": 7}, ValueError), ({"position": 1.0}, TypeError), ({"step": 0.0}, ValueError)],
)
def test_bad_arguments_name_themselves(kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        ha.attention_sweep_chart(**kwargs)


def test_temperature_sweep_needs_three_logits():
    with pytest.raises(ValueError, match="logits"):
        ha.temperature_sweep_chart((1.0, 0.0))
