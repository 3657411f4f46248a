"""The Sphinx extension behind the site (book/_ext), tested without a browser."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "book" / "_ext"))
pytest.importorskip("sphinx")

import site_assets  # noqa: E402
import vendor_assets  # noqa: E402
from sphinx.builders.html._assets import _JavaScript  # noqa: E402


def test_dedupe_scripts_drops_the_repeated_inline_thebe_script():
    thebe = 'const THEBE_JS_URL = "x"'
    scripts = [
        _JavaScript("_static/a.js"),
        _JavaScript(None, body=thebe),
        _JavaScript("", body=thebe),  # what Sphinx 7.4's prepare_writing re-adds
        _JavaScript("_static/a.js"),
        _JavaScript(None, body="let other = 1"),
    ]
    context = {"script_files": scripts}
    site_assets.dedupe_scripts(None, "page", "page.html", context, None)
    bodies = [s.attributes.get("body") for s in context["script_files"]]
    assert bodies == [None, thebe, "let other = 1"]
    assert context["script_files"] is scripts  # edited in place, as Sphinx expects


def test_vendor_packages_are_pinned_and_cover_what_the_config_loads():
    config = (Path(__file__).resolve().parents[2] / "_config.yml").read_text()
    for package in vendor_assets.PACKAGES:
        assert package.integrity.startswith("sha512-"), package.name
        assert package.version[0].isdigit(), f"{package.name} is not pinned to a version"
    from hardattn_utils import charts  # the kernel-free explorers load Vega from their own HTML

    loaded_by_charts = {f"vega/{name}" for name in charts._SCRIPTS}
    assert charts.VENDOR == "../_static/vendor/vega"
    for required in vendor_assets.REQUIRED:
        if required in loaded_by_charts:
            continue
        if required.endswith(".js") and "mathjax" not in required:
            assert f"vendor/{required}" in config, f"_config.yml does not load vendor/{required}"
    assert "mathjax_path: vendor/mathjax/tex-mml-chtml.js" in config


@pytest.mark.parametrize(
    ("member", "keep", "expected"),
    [("embed-amd.js", "embed-amd.js", True), ("a/b.woff2", ".woff2", True), ("a/b.woff2", ".woff", False)],
)
def test_vendor_member_selection(member, keep, expected):
    assert vendor_assets._matches(member, keep) is expected
