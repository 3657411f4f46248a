"""The reader's experience, checked on the notebooks themselves (issue: wherever they read).

The site drops the Colab install cell and folds the set-up cell, so every chapter page
opens with its goals; every exercise has a worked solution right after it, folded on
the site; every figure carries alt text; no stored output holds a progress bar.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISE = re.compile(r"^#{2,4} Exercise\b", re.M)
SOLUTION = re.compile(r":::\{dropdown\} Solution|```\{dropdown\} Solution")
BAR = re.compile(r"\d+%\|.*\| *\d+/\d+ \[")


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def cells(request) -> list[dict]:
    return json.loads(request.param.read_text(encoding="utf-8"))["cells"]


def _tags(cell: dict) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def test_the_page_opens_with_the_goals(cells):
    assert cells[0]["cell_type"] == "markdown" and "".join(cells[0]["source"]).startswith("# ")
    code = [c for c in cells if c["cell_type"] == "code"]
    assert "google.colab" in "".join(code[0]["source"]) and "remove-cell" in _tags(code[0])
    assert "hide-input" in _tags(code[1]), "the set-up cell is folded on the site (tag hide-input)"


def test_every_exercise_is_followed_by_its_solution(cells):
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and EXERCISE.search("".join(cell["source"])):
            following = "".join(
                "".join(c["source"]) for c in cells[i + 1 : i + 3] if c["cell_type"] == "markdown"
            )
            assert SOLUTION.search(following), f"cell {i}: an exercise without a solution after it"


def test_every_figure_has_alt_text(cells):
    for i, cell in enumerate(cells):
        figures = [o for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
        if figures:
            alt = cell.get("metadata", {}).get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt.split()) >= 4, f"cell {i}: a figure without alt text that says what it shows"


def test_no_stored_progress_bar(cells):
    for i, cell in enumerate(cells):
        for output in cell.get("outputs", []):
            text = "".join(output.get("text", "")) + "".join(output.get("data", {}).get("text/plain", ""))
            assert not BAR.search(text), f"cell {i}: a stored progress bar"
            assert "application/vnd.jupyter.widget-view+json" not in output.get("data", {}) or not BAR.search(
                json.dumps(output)
            ), f"cell {i}: a stored progress-bar widget"
