"""Run time of each notebook under strict nbval: read from the test run's timings file,
or measured here by running nbval on one notebook at a time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TIMES = ROOT / "_build" / "notebook_times.json"
LIMIT_EACH_S, LIMIT_ALL_S = 60.0, 360.0


def from_file(path: Path = TIMES) -> dict[str, float]:
    """``{notebook: seconds}`` from the JSON the nbval run writes, or ``{}`` when absent."""
    try:
        data = json.loads(path.read_text())
        items = data["notebooks"].items()
        return {
            n: float(i["seconds"]) for n, i in items if n.startswith("notebooks/") and (ROOT / n).is_file()
        }
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def measure() -> dict[str, float]:
    """Wall seconds of ``pytest --nbval`` (strict, sanitized) for each notebook, one at a time."""
    times = {}
    for notebook in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        command = [sys.executable, "-m", "pytest", "--nbval", str(notebook), "-q", "-p", "no:cacheprovider"]
        command += ["--sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg")]
        start = time.perf_counter()
        env = {**os.environ, "HARDATTN_PROGRESS": "0"}  # as `make nbval`: no progress bars stored
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - start
        name = str(notebook.relative_to(ROOT))
        times[name] = seconds if result.returncode == 0 else float("nan")
        print(f"  {name}: {seconds:.1f} s{'' if result.returncode == 0 else ' (FAILED)'}", flush=True)
    return times


def notebook_rows(times: dict[str, float]) -> list[dict[str, object]]:
    """One row per notebook plus a total, each against its limit."""
    rows = [
        {"notebook": name, "seconds": s, "within limit": f"{'yes' if s <= LIMIT_EACH_S else 'NO'} (≤ 60 s)"}
        for name, s in sorted(times.items())
    ]
    total = sum(times.values())
    rows.append(
        {
            "notebook": "all",
            "seconds": total,
            "within limit": f"{'yes' if total <= LIMIT_ALL_S else 'NO'} (≤ 360 s)",
        }
    )
    return rows
