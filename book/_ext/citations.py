"""Citations that read as text everywhere: author and year, linked to the bibliography.

MyST's ``{cite:t}`key``` roles render only on the built site; in Colab or a plain
Jupyter they show as raw roles. This module rewrites them in the notebooks'
markdown cells as ordinary Markdown links whose text is the author-year citation and
whose title is the BibTeX key::

    {cite:t}`jang2017categorical`  ->  [Jang et al. (2017)](../book/bibliography.md "jang2017categorical")
    {cite:p}`a,b`                  ->  ([A, 2001](…); [B & C, 2002](…))

The bibliography page lists every entry (``:all:``), so the links land where the
reference is. Run ``python book/_ext/citations.py`` after adding a citation;
``tests/book/test_citations.py`` checks that no raw role is left and that every
link's key is in ``book/references.bib``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIB = ROOT / "book" / "references.bib"
TARGET = "../book/bibliography.md"
ROLE = re.compile(r"\{cite:(?P<kind>[tp])\}`(?P<keys>[^`]+)`")
LINK = re.compile(r"\[(?P<text>[^\]]+)\]\(" + re.escape(TARGET) + r' "(?P<key>[^"]+)"\)')


def _plain(name: str) -> str:
    """A BibTeX last name as text: ``L{\\'e}onard`` -> ``Léonard``."""
    accents = {"\\'e": "é", '\\"o': "ö", '\\"u': "ü", "\\'a": "á", "\\`e": "è", '\\"a': "ä"}
    for tex, char in accents.items():
        name = name.replace("{" + tex + "}", char).replace(tex, char)
    return name.replace("{", "").replace("}", "")


def load_entries(path: Path = BIB) -> dict[str, tuple[str, str]]:
    """BibTeX key -> (author label, year): "Jang et al.", "Maddison & Mnih", "Williams"."""
    from pybtex.database import parse_file

    entries = {}
    for key, entry in parse_file(str(path)).entries.items():
        people = entry.persons.get("author") or entry.persons.get("editor") or []
        names = [_plain(" ".join(p.last_names)) for p in people] or [entry.fields.get("title", key)]
        label = (
            names[0] if len(names) == 1 else " & ".join(names) if len(names) == 2 else f"{names[0]} et al."
        )
        entries[key] = (label, entry.fields.get("year", "n.d."))
    return entries


def convert(text: str, entries: dict[str, tuple[str, str]]) -> str:
    """Replace every cite role in ``text``; raise ``KeyError`` naming an unknown key."""

    def one(match: re.Match) -> str:
        keys = [k.strip() for k in match["keys"].split(",")]
        unknown = [k for k in keys if k not in entries]
        if unknown:
            raise KeyError(f"citation keys not in {BIB.name}: {unknown}")
        if match["kind"] == "t":
            return "; ".join(f'[{entries[k][0]} ({entries[k][1]})]({TARGET} "{k}")' for k in keys)
        return "(" + "; ".join(f'[{entries[k][0]}, {entries[k][1]}]({TARGET} "{k}")' for k in keys) + ")"

    return ROLE.sub(one, text)


def convert_notebook(path: Path, entries: dict[str, tuple[str, str]]) -> bool:
    """Rewrite the markdown cells of one notebook in place; return whether it changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    changed = False
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        source = "".join(cell["source"])
        new = convert(source, entries)
        if new != source:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(paths: list[str]) -> int:
    entries = load_entries()
    targets = [Path(p) for p in paths] or sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    for path in targets:
        if convert_notebook(path, entries):
            print(f"citations rewritten: {path.relative_to(ROOT) if path.is_absolute() else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
