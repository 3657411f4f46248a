"""Notebook hygiene: toc <-> files, executed top to bottom, the book's shape,
no package function redefined in a notebook (DESIGN §4)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

import hardattn_utils as ha

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
MAX_CELL_LINES = 25


def toc_entries() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]]
    for part in toc.get("parts", []):
        files += [chapter["file"] for chapter in part.get("chapters", [])]
    return files


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def test_every_notebook_is_in_the_toc_exactly_once_and_vice_versa():
    entries = toc_entries()
    assert len(entries) == len(set(entries)), "a file is listed twice in _toc.yml"
    listed = {e for e in entries if e.startswith("notebooks/")}
    present = {f"notebooks/{p.stem}" for p in NOTEBOOKS}
    assert listed == present, f"only in toc: {listed - present}; only on disk: {present - listed}"
    for entry in entries:
        assert any((ROOT / f"{entry}{ext}").exists() for ext in (".md", ".ipynb")), entry


def test_toc_order_is_chapter_order():
    listed = [e for e in toc_entries() if e.startswith("notebooks/")]
    assert listed == sorted(listed)


@pytest.fixture(params=NOTEBOOKS, ids=lambda p: p.stem)
def notebook(request) -> tuple[str, dict]:
    return request.param.stem, load(request.param)


def test_executed_top_to_bottom_with_outputs(notebook):
    name, nb = notebook
    cells = code_cells(nb)
    assert [c["execution_count"] for c in cells] == list(range(1, len(cells) + 1)), name
    assert sum(len(c["outputs"]) for c in cells) >= 3, f"{name} has no committed outputs"
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


def test_errors_only_where_tagged(notebook):
    name, nb = notebook
    for cell in code_cells(nb):
        tags = cell.get("metadata", {}).get("tags", [])
        errors = [o for o in cell["outputs"] if o["output_type"] == "error"]
        assert not errors or "raises-exception" in tags, f"{name}: untagged error {errors[0]['ename']}"


def test_no_package_name_is_redefined(notebook):
    name, nb = notebook
    for cell in code_cells(nb):
        for match in re.finditer(r"^\s*(?:def|class)\s+(\w+)", source(cell), re.M):
            assert match.group(1) not in ha.__all__, f"{name} redefines ha.{match.group(1)}"


def test_set_up_cells(notebook):
    name, nb = notebook
    first, second = (source(c) for c in code_cells(nb)[:2])
    assert 'if "google.colab" in sys.modules' in first, name
    assert "import hardattn_utils as ha" in second and "ha.set_seed(" in second, name
    assert "ha.set_theme()" in second and "FULL = ha.set_full(" in second, name


def test_book_shape(notebook):
    name, nb = notebook
    markdown = [source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert markdown[0].startswith("# "), f"{name}: first cell is not the title"
    text = "\n".join(markdown)
    for heading in ("## Summary", "## Exercises", "## References"):
        assert heading in text, f"{name}: missing {heading}"
    summary = text.split("## Summary", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^\s*[-*] ", summary, re.M)) == 3, f"{name}: Summary needs 3 bullets"


def test_code_cells_are_short_and_outputs_carry_no_local_paths(notebook):
    name, nb = notebook
    for cell in code_cells(nb):
        assert len(source(cell).splitlines()) <= MAX_CELL_LINES, f"{name}: long cell\n{source(cell)[:200]}"
        text = json.dumps(cell["outputs"])
        assert "/work/" not in text and "site-packages" not in text, f"{name}: a local path in an output"


def test_notebooks_stay_small():
    for path in NOTEBOOKS:
        assert path.stat().st_size < 1_500_000, f"{path.name} is {path.stat().st_size // 1000} kB"
