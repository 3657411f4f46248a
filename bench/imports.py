"""Import time of ``hardattn_utils`` against ``import torch``, each in a fresh process."""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

STATEMENTS = {
    "torch": "import torch",
    "hardattn_utils": "import hardattn_utils",
    "hardattn_utils, then its core": "import hardattn_utils as ha; ha.fit, ha.gradient_stats, ha.reinforce",
}


def _seconds(statement: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", statement], check=True)
    return time.perf_counter() - start


def import_rows(repeats: int = 7) -> list[dict[str, object]]:
    """Median wall seconds of each import over ``repeats`` alternating fresh processes."""
    times: dict[str, list[float]] = {name: [] for name in STATEMENTS}
    for _ in range(repeats):
        for name, statement in STATEMENTS.items():
            times[name].append(_seconds(statement))
    torch_s = statistics.median(times["torch"])
    return [
        {
            "import": name,
            "median s": statistics.median(values),
            "range s": f"{min(values):.2f}–{max(values):.2f}",
            "more than torch (s)": statistics.median(values) - torch_s,
        }
        for name, values in times.items()
    ]
