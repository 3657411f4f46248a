"""Repository-wide pytest hooks.

Each section below is independent; keep new ones separate.
"""

from __future__ import annotations

# --- chapter run times -------------------------------------------------------
# The strict nbval run (`make nbval`, part of `make test`) records how long each
# notebook's cells take and writes _build/notebook_times.json; the home page
# shows it through the `chapter-times` directive of book/_ext/site_assets.py.
import datetime as _dt
import json as _json
import os as _os
import platform as _platform
from collections import defaultdict as _defaultdict
from pathlib import Path as _Path

_NOTEBOOK_TIMES = _Path(__file__).resolve().parent / "_build" / "notebook_times.json"
_cell_times: dict[str, list[float]] = _defaultdict(list)
_cell_failed: set[str] = set()


def pytest_runtest_logreport(report) -> None:
    notebook = report.nodeid.split("::", 1)[0]
    if not (notebook.startswith("notebooks/") and notebook.endswith(".ipynb")):
        return  # only the book's chapters, not test fixtures run under nbval
    if report.when == "call":
        _cell_times[notebook].append(report.duration)
    if report.failed:
        _cell_failed.add(notebook)


def pytest_sessionfinish(session, exitstatus) -> None:
    if not _cell_times or hasattr(session.config, "workerinput"):
        return
    try:
        data = _json.loads(_NOTEBOOK_TIMES.read_text())
    except (OSError, ValueError):
        data = {}
    notebooks = data.get("notebooks", {})
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    for notebook, durations in _cell_times.items():
        notebooks[notebook] = {
            "seconds": round(sum(durations), 2),
            "cells": len(durations),
            "passed": notebook not in _cell_failed,
            "measured": now,
        }
    data = {
        "notebooks": dict(sorted(notebooks.items())),
        "machine": {
            "cpu_count": _os.cpu_count(),
            "omp_num_threads": _os.environ.get("OMP_NUM_THREADS"),
            "python": _platform.python_version(),
        },
    }
    _NOTEBOOK_TIMES.parent.mkdir(parents=True, exist_ok=True)
    temporary = _NOTEBOOK_TIMES.with_suffix(f".{_os.getpid()}.tmp")
    temporary.write_text(_json.dumps(data, indent=1) + "\n")
    _os.replace(temporary, _NOTEBOOK_TIMES)


# --- end of chapter run times ------------------------------------------------


# --- no network in notebook kernels ------------------------------------------
# nbval runs each notebook in a kernel, a separate process, so a pytest fixture
# cannot reach its sockets. Instead, under --nbval/--nbval-lax every process
# started from here on imports tests/nonet/sitecustomize.py at start-up (it is
# first on PYTHONPATH), which limits sockets to loopback while
# HARDATTN_NO_NETWORK=1: a notebook that downloads fails with
# "network access is blocked". tests/test_no_network.py proves it.
# This is the file's only pytest_configure: extend it rather than adding another.
_NO_NETWORK_SITE = _Path(__file__).resolve().parent / "tests" / "nonet"


def pytest_configure(config) -> None:
    if not (config.getoption("nbval", False) or config.getoption("nbval_lax", False)):
        return
    _os.environ["HARDATTN_NO_NETWORK"] = "1"
    paths = [p for p in _os.environ.get("PYTHONPATH", "").split(_os.pathsep) if p]
    if str(_NO_NETWORK_SITE) not in paths:
        _os.environ["PYTHONPATH"] = _os.pathsep.join([str(_NO_NETWORK_SITE), *paths])


# --- end of no network in notebook kernels ------------------------------------
