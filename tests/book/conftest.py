"""Fixtures of the book tests (hygiene, notebooks, environment, workflows, no network, Colab)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def repo_root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture(scope="module")
def keep_notebook_times() -> Iterator[None]:
    """Restore ``_build/notebook_times.json`` after a test that runs nbval on fixture notebooks.

    The root ``conftest.py`` records every nbval run's cell times there; runs of the
    throwaway notebooks in ``tests/data`` must not end up in the book's table.
    """
    times = ROOT / "_build" / "notebook_times.json"
    saved = times.read_bytes() if times.exists() else None
    yield
    if saved is None:
        times.unlink(missing_ok=True)
    else:
        times.write_bytes(saved)
