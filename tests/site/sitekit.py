"""Paths, settings and small helpers shared by the site test and its fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

ROOT = Path(os.environ.get("SITE_ROOT", Path(__file__).resolve().parents[2]))
HTML_DIR = ROOT / "_build" / "html"
SCREENSHOT_DIR = ROOT / "_build" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
IN_CI = bool(os.environ.get("CI"))
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-dev-shm-usage",
    "--window-size=1280,1000",
    # Offline: every host name but localhost fails to resolve (the site is served on 127.0.0.1).
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


def unavailable(reason: str) -> None:
    """Skip on a reader's machine; fail in CI, where the browser test must run."""
    if IN_CI:
        pytest.fail(f"{reason} (CI is set, so the browser test must run)")
    pytest.skip(f"{reason}; the browser test of the site is skipped")


def load_yaml(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def toc_files(toc: dict) -> list[str]:
    """Every file of ``_toc.yml`` in reading order (root first), without suffix."""
    files = [toc["root"]]

    def walk(entries: list[dict]) -> None:
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            for key in ("parts", "chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []) + toc.get("chapters", []) + toc.get("sections", []))
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in files]
