"""Fixtures for the browser test of the built site.

The site in ``_build/html`` is served on a random free port of 127.0.0.1 by a
thread running :mod:`http.server`, and visited with Debian's headless
Chromium (``/usr/bin/chromium`` + ``/usr/bin/chromedriver``) through Selenium.
Nothing is downloaded: the driver path is given explicitly and Selenium
Manager is switched off. Chromium resolves no host name (the site is on 127.0.0.1),
so the test sees the site exactly as an offline reader does.

Environment: ``SITE_ROOT`` (the book folder, default the repository root),
``CHROMIUM`` / ``CHROMEDRIVER`` (binaries), ``CI`` (when set, a missing browser
or site fails the test instead of skipping it).
"""

from __future__ import annotations

import functools
import http.server
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sitekit import CHROMEDRIVER, CHROMIUM, CHROMIUM_FLAGS, HTML_DIR, load_yaml, unavailable


@pytest.fixture(scope="session")
def config() -> dict:
    return load_yaml("_config.yml")


@pytest.fixture(scope="session")
def html_dir() -> Path:
    if not (HTML_DIR / "index.html").is_file():
        unavailable(f"no built site at {HTML_DIR} (run `make book` first)")
    return HTML_DIR


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 (the stdlib's name)
        pass


@pytest.fixture(scope="session")
def base_url(html_dir: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT/`` serving the built site from a background thread."""
    handler = functools.partial(_QuietHandler, directory=str(html_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by Selenium, with the browser console log enabled."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not (Path(binary).is_file() and os.access(binary, os.X_OK)):
            unavailable(
                f"{binary} not found (install it with `sudo apt-get install chromium chromium-driver`)"
            )
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        unavailable("selenium is not installed (`make install` installs it)")
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never download a browser or driver
    profile = tempfile.mkdtemp(prefix="hardattn-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
