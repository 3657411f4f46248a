"""Citations read as author-year text in Colab and on the site (book/_ext/citations.py)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "book" / "_ext"))
import citations  # noqa: E402

NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
ENTRIES = citations.load_entries()


def _markdown(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_no_raw_cite_role_and_every_link_names_a_known_entry(path):
    text = _markdown(path)
    assert "{cite:" not in text, f"{path.name}: raw cite role; run python book/_ext/citations.py"
    for link in citations.LINK.finditer(text):
        assert link["key"] in ENTRIES, f"{path.name}: {link['key']} is not in references.bib"
        label, year = ENTRIES[link["key"]]
        assert label in link["text"] and year in link["text"], f"{path.name}: {link.group(0)}"


def test_roles_become_author_year_links():
    entries = {"a2001": ("Smith", "2001"), "b2002": ("Lee & Kim", "2002"), "c2003": ("Wu et al.", "2003")}
    text = "as {cite:t}`c2003` showed {cite:p}`a2001,b2002`."
    assert citations.convert(text, entries) == (
        'as [Wu et al. (2003)](../book/bibliography.md "c2003") showed '
        '([Smith, 2001](../book/bibliography.md "a2001"); '
        '[Lee & Kim, 2002](../book/bibliography.md "b2002")).'
    )
    with pytest.raises(KeyError, match="zz"):
        citations.convert("{cite:p}`zz`", entries)


def test_the_bibliography_page_lists_every_entry():
    assert ":all:" in (ROOT / "book" / "bibliography.md").read_text()
    assert ENTRIES["jang2017categorical"] == ("Jang et al.", "2017")
