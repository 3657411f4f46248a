"""Notebook kernels run without network: a notebook that downloads fails loudly under nbval.

The root ``conftest.py`` enables ``tests/nonet/sitecustomize.py`` for every process started
under ``--nbval``; these tests check the blocker in a plain subprocess and then end to end,
running nbval on throwaway notebooks in ``tests/data/``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "tests" / "nonet"
DATA = ROOT / "tests" / "data"
BLOCKED = "network access is blocked"

PROBE = """
import socket, time
start = time.perf_counter()
with socket.create_server(("127.0.0.1", 0)) as server:          # loopback stays open
    socket.create_connection(server.getsockname(), timeout=5).close()
for attempt in (
    lambda: socket.create_connection(("192.0.2.1", 80), timeout=3),   # via getaddrinfo
    lambda: socket.socket().connect(("192.0.2.1", 80)),               # raw connect
    lambda: socket.socket().connect_ex(("192.0.2.1", 443)),           # connect_ex
    lambda: socket.socket(type=socket.SOCK_DGRAM).sendto(b"x", ("192.0.2.1", 53)),
    lambda: socket.getaddrinfo("example.org", 443),                   # name resolution
    lambda: socket.getaddrinfo("2001:db8::1", 443),                   # IPv6
):
    try:
        attempt()
        print("CONNECTED")
    except OSError as error:
        print(type(error).__name__, error)
print("seconds", round(time.perf_counter() - start, 1))
"""


def _probe(block: bool) -> str:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SITE), os.environ.get("PYTHONPATH", "")])}
    env.pop("HARDATTN_NO_NETWORK", None)
    if block:
        env["HARDATTN_NO_NETWORK"] = "1"
    result = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return result.stdout


def test_blocker_refuses_every_non_loopback_attempt_at_once_and_keeps_loopback():
    out = _probe(block=True)
    lines = out.splitlines()
    assert sum(line.startswith("NetworkBlockedError") and BLOCKED in line for line in lines) == 6, out
    assert "CONNECTED" not in out
    assert float(lines[-1].split()[-1]) < 2.0, out  # refused immediately, no timeouts


def test_blocker_is_inactive_without_the_variable():
    out = _probe(block=False)
    assert BLOCKED not in out  # the attempts fail (no network here) or succeed, but not by us


@pytest.fixture(scope="module")
def nbval_outcomes(
    tmp_path_factory: pytest.TempPathFactory, repo_root: Path, keep_notebook_times: None
) -> dict[str, object]:
    """Run strict nbval on the three throwaway notebooks in one pytest process.

    The outcome of each cell is read from pytest's JUnit XML report (a structured
    result), not from the text of ``pytest -v``.
    """
    report = tmp_path_factory.mktemp("nbval") / "report.xml"
    env = {k: v for k, v in os.environ.items() if k not in ("HARDATTN_NO_NETWORK", "PYTHONPATH")}
    command = [sys.executable, "-m", "pytest", "--nbval", "-q", "-p", "no:cacheprovider"]
    command += [f"--junitxml={report}"]
    command += [
        str(DATA / name)
        for name in ("nonet_loopback.ipynb", "nonet_download.ipynb", "nonet_raw_socket.ipynb")
    ]
    result = subprocess.run(command, cwd=repo_root, env=env, capture_output=True, text=True, timeout=300)
    return {
        "output": result.stdout + result.stderr,
        "returncode": result.returncode,
        "cells": _cell_outcomes(report),
    }


def _cell_outcomes(report: Path) -> dict[tuple[str, int], tuple[str, str]]:
    """(notebook stem, cell number) -> (outcome, failure text) from a JUnit XML report."""
    outcomes = {}
    for case in ElementTree.parse(report).iter("testcase"):
        stem = case.get("classname", "").removesuffix(".ipynb").rsplit(".", 1)[-1]  # tests.data.<stem>.ipynb
        cell = int(case.get("name", "").split()[-1])  # "Cell N"
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        text = "" if failure is None else (failure.get("message", "") + (failure.text or ""))
        outcomes[(stem, cell)] = ("FAILED" if failure is not None else "PASSED", text)
    return outcomes


def _cell_status(outcomes: dict, notebook: str, cell: int) -> str:
    return outcomes["cells"].get((notebook.removesuffix(".ipynb"), cell), ("MISSING", ""))[0]


def test_a_notebook_using_only_loopback_passes_under_nbval(nbval_outcomes):
    out = nbval_outcomes["output"]
    assert _cell_status(nbval_outcomes, "nonet_loopback.ipynb", 0) == "PASSED", out[-3000:]


@pytest.mark.parametrize("notebook", ["nonet_download.ipynb", "nonet_raw_socket.ipynb"])
def test_a_notebook_that_connects_out_fails_loudly_under_nbval(nbval_outcomes, notebook):
    out = nbval_outcomes["output"]
    assert _cell_status(nbval_outcomes, notebook, 0) == "PASSED", out[-3000:]  # the kernel works
    assert _cell_status(nbval_outcomes, notebook, 1) == "FAILED", out[-3000:]
    failure = nbval_outcomes["cells"][(notebook.removesuffix(".ipynb"), 1)][1]
    assert "NetworkBlockedError" in failure and BLOCKED in failure, failure
    assert nbval_outcomes["returncode"] != 0
