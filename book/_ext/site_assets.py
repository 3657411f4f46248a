"""Sphinx extension: the site's own assets, a console fix, and the chapter-times table.

1. Before an HTML build, :func:`vendor_assets.ensure_vendor_assets` makes sure
   MathJax, require.js and the ipywidgets embed manager are in
   ``book/_static/vendor/`` (``_config.yml`` points ``mathjax_path`` and
   ``nb_ipywidgets_js`` at them), so mathematics and widgets render offline.
2. Sphinx 7.4's ``prepare_writing`` re-adds every script registered after the
   builder started, turning ``filename=None`` into ``""``; the copy no longer
   compares equal, so inline scripts appear twice on every page. For
   sphinx-thebe's ``const THEBE_JS_URL = ...`` that is a
   ``SyntaxError: Identifier 'THEBE_JS_URL' has already been declared``.
   :func:`dedupe_scripts` drops the repeated inline scripts of each page.
3. The ``chapter-times`` directive renders the measured run time of every
   chapter from the JSON file that the strict nbval run writes
   (``_build/notebook_times.json``; see the root ``conftest.py``), or says
   "not measured yet" when there is none.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from docutils import nodes
from sphinx import addnodes
from sphinx.application import Sphinx
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

sys.path.insert(0, str(Path(__file__).parent))
from vendor_assets import ensure_vendor_assets  # noqa: E402

logger = logging.getLogger(__name__)


def fetch_vendor_assets(app: Sphinx) -> None:
    """Make sure the self-hosted JavaScript exists before the HTML is written."""
    if app.builder.format == "html":
        ensure_vendor_assets(log=logger.info)


def _script_key(script) -> tuple:
    filename = getattr(script, "filename", script) or None  # "" and None mean "inline"
    attributes = getattr(script, "attributes", {})
    return (filename, tuple(sorted(attributes.items())))


def dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Keep the first of several identical ``<script>`` entries of a page."""
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen: set[tuple] = set()
    unique = []
    for script in scripts:
        key = _script_key(script)
        if key not in seen:
            seen.add(key)
            unique.append(script)
    scripts[:] = unique


def _seconds(value: float) -> str:
    return f"{value:.0f} s" if value >= 10 else f"{value:.1f} s"


def _row(cells: list[nodes.Node]) -> nodes.row:
    row = nodes.row()
    for cell in cells:
        entry = nodes.entry()
        entry += cell if isinstance(cell, nodes.paragraph) else nodes.paragraph("", "", cell)
        row += entry
    return row


class ChapterTimes(SphinxDirective):
    """``chapter-times``: a table of each chapter's measured run time."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        path = Path(self.env.srcdir) / self.config.notebook_times_path
        self.env.note_dependency(str(path))  # rebuild the page when new timings arrive
        try:
            data = json.loads(path.read_text())
            notebooks = {k: v for k, v in data["notebooks"].items() if (Path(self.env.srcdir) / k).is_file()}
        except (OSError, ValueError, KeyError, TypeError):
            notebooks = {}
        if not notebooks:
            command = nodes.literal("make test", "make test")
            missing = [nodes.Text("Run times: not measured yet ("), command, nodes.Text(" measures them).")]
            return [nodes.paragraph("", "", *missing)]
        return [self._table(notebooks, data.get("machine", {}))]

    def _link(self, notebook: str) -> nodes.paragraph:
        """A link to the chapter, titled with the chapter's own title."""
        docname = notebook.rsplit(".", 1)[0]
        ref = addnodes.pending_xref(
            "", refdomain="std", reftype="doc", reftarget="/" + docname, refexplicit=False
        )
        ref["refdoc"] = self.env.docname
        ref += nodes.inline(docname, docname)
        return nodes.paragraph("", "", ref)

    def _table(self, notebooks: dict, machine: dict) -> nodes.table:
        table = nodes.table(classes=["chapter-times"])
        title = "Measured run time of each chapter (quick settings, strict nbval)"
        if machine.get("cpu_count"):
            title += f" on {machine['cpu_count']} CPU cores"
        dates = sorted(str(info.get("measured", ""))[:10] for info in notebooks.values())
        if dates and dates[-1]:
            title += f", measured {dates[-1]}"
        table += nodes.title(title, title)
        group = nodes.tgroup(cols=3)
        table += group
        for width in (60, 20, 20):
            group += nodes.colspec(colwidth=width)
        head = nodes.thead()
        head += _row([nodes.Text(t) for t in ("Chapter", "Run time", "Cells")])
        group += head
        body = nodes.tbody()
        total = 0.0
        for notebook, info in sorted(notebooks.items()):
            seconds = _seconds(info["seconds"]) + ("" if info.get("passed", True) else " (failed)")
            body += _row([self._link(notebook), nodes.Text(seconds), nodes.Text(str(info["cells"]))])
            total += info["seconds"]
        label = f"total, {len(notebooks)} chapters"
        everything = nodes.strong(label, label)
        body += _row([everything, nodes.Text(_seconds(total)), nodes.Text("")])
        group += body
        return table


def setup(app: Sphinx) -> dict:
    app.add_config_value("notebook_times_path", "_build/notebook_times.json", "env")
    app.connect("builder-inited", fetch_vendor_assets)
    app.connect("html-page-context", dedupe_scripts, priority=900)
    app.add_directive("chapter-times", ChapterTimes)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
