"""Clear the stored outputs of cells tagged ``kernel-only`` (the ipywidgets explorers).

An ipywidgets explorer needs a live kernel: stored, its output is a frozen widget
that JupyterLab shows as ``HBox(children=(VBox(…`` text before the notebook runs,
and the site cannot move it. So ``make notebooks`` executes such a cell (it must
run without error) and then clears what it stored; the site removes the cell
(tag ``remove-cell``) and shows its kernel-free twin, a sweep chart, instead.

Usage: ``python book/_ext/kernel_only.py NOTEBOOK...``
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TAG = "kernel-only"


def clear(path: Path) -> int:
    """Clear the outputs of the tagged cells of one notebook; return how many."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cleared = 0
    for cell in notebook["cells"]:
        if TAG in cell.get("metadata", {}).get("tags", []) and cell.get("outputs"):
            cell["outputs"] = []
            cleared += 1
    if cleared:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return cleared


if __name__ == "__main__":
    for name in sys.argv[1:]:
        clear(Path(name))
