"""The built site, checked in a real (headless) browser, page by page.

For every page of ``_toc.yml``: no console errors, every image loaded, all
mathematics typeset by the site's own MathJax, internal links resolve,
"edit"/"issue" buttons built from the one ``repository.url`` of
``_config.yml``, and on notebook pages the Colab and Binder launch links and
the notebook download. Saved widgets render. Search finds "Gumbel".
Screenshots of the home page and a chapter go to ``_build/screenshots/``.

Each page is visited once (``visit``); the tests read the collected report.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from sitekit import HTML_DIR, ROOT, SCREENSHOT_DIR, load_yaml, toc_files

PAGES = toc_files(load_yaml("_toc.yml"))
NOTEBOOK_PAGES = [p for p in PAGES if (ROOT / f"{p}.ipynb").is_file()]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"

# Runs in the page once it has loaded: waits for MathJax's first typeset, the
# widget manager and every image, then reports what a reader would see.
COLLECT_JS = r"""
const done = arguments[arguments.length - 1];
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
(async () => {
  const start = Date.now(), late = () => Date.now() - start > 20000;
  const article = document.querySelector("article") || document.body;
  const hasMath = article.querySelector(".math") !== null;
  const mathJaxReady = () => window.MathJax && MathJax.startup && MathJax.startup.promise;
  while (hasMath && !mathJaxReady() && !late()) await sleep(50);
  if (mathJaxReady()) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  const views = [...document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]')];
  const rendered = () => views.filter(s => s.parentElement.querySelector(".jupyter-widgets")).length;
  while (rendered() < views.length && !late()) await sleep(50);
  document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = "eager"; });
  while ([...document.images].some(img => !img.complete) && !late()) await sleep(50);
  const charts = [...document.querySelectorAll(".sweep-chart")];
  while (charts.some(c => !c.querySelector("svg")) && !late()) await sleep(50);
  await sleep(300);
  const prose = article.cloneNode(true);
  prose.querySelectorAll("pre, code, script, style, .cell_input, mjx-container").forEach(n => n.remove());
  const math = [...article.querySelectorAll(".math")];
  done({
    images: [...document.images].map(img => ({
      src: img.currentSrc || img.src, ok: img.complete && img.naturalWidth > 0,
      alt: img.getAttribute("alt"), output: img.closest(".cell_output") !== null,
    })),
    math: math.length,
    mathRendered: math.filter(n => n.querySelector("mjx-container") || n.tagName === "MJX-CONTAINER").length,
    mathErrors: document.querySelectorAll("mjx-merror").length,
    prose: prose.innerText,
    links: [...document.querySelectorAll("a[href]")].map(a => a.href),
    widgetViews: views.length,
    charts: charts.map(c => ({id: c.id, drawn: c.querySelector("svg") !== null})),
    wideCode: [...document.querySelectorAll(".cell_input pre")]
      .filter(p => p.scrollWidth > p.clientWidth + 1).map(p => p.innerText.split("\n")[0]),
    widgetsRendered: rendered(),
    title: document.title,
    chapterTimes: [...document.querySelectorAll("table.chapter-times tbody tr")].map(r => r.innerText),
  });
})();
"""


def _severe(logs: list[dict]) -> list[str]:
    return [entry["message"] for entry in logs if entry.get("level") == "SEVERE"]


@pytest.fixture(scope="session")
def visit(browser, base_url):
    """``visit(page)`` -> the report of that page (each page is loaded once per session)."""
    reports: dict[str, dict] = {}

    def _visit(page: str) -> dict:
        if page not in reports:
            browser.get_log("browser")  # drop anything left from the previous page
            browser.get(f"{base_url}{page}.html")
            report = browser.execute_async_script(COLLECT_JS)
            report["errors"] = _severe(browser.get_log("browser"))
            reports[page] = report
        return reports[page]

    return _visit


@pytest.mark.parametrize("page", PAGES)
def test_no_console_errors(visit, page):
    errors = visit(page)["errors"]
    assert not errors, f"{page}: browser console errors:\n" + "\n".join(errors)


@pytest.mark.parametrize("page", PAGES)
def test_images_load(visit, page):
    report = visit(page)
    broken = [img["src"] for img in report["images"] if not img["ok"]]
    assert report["title"], f"{page}: the page has no title"
    assert not broken, f"{page}: images that did not load: {broken}"


@pytest.mark.parametrize("page", PAGES)
def test_every_figure_has_alt_text_that_says_what_it_shows(visit, page):
    """Output figures carry words (cell metadata ``mystnb.image.alt``), not a file path."""
    pathlike = re.compile(r"(^|/)[0-9a-f]{16,}|\.(png|svg|jpe?g)$|_images/")
    bad = [
        img["src"]
        for img in visit(page)["images"]
        if img["output"] and (not (img["alt"] or "").strip() or pathlike.search(img["alt"] or ""))
    ]
    assert not bad, f"{page}: figures whose alt text is empty or a file path: {bad}"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_code_fits_the_page_without_a_horizontal_scrollbar(visit, page):
    """At 1,280 px every code cell fits its column (lines of at most 88 characters)."""
    wide = visit(page)["wideCode"]
    assert not wide, f"{page}: code cells that need a horizontal scrollbar: {wide}"


@pytest.mark.parametrize("page", PAGES)
def test_authored_images_have_alt_text(visit, page):
    missing = [
        img["src"]
        for img in visit(page)["images"]
        if not img["output"] and not (img["alt"] or "").strip() and "logo" not in img["src"]
    ]
    assert not missing, f"{page}: images without alt text: {missing}"


@pytest.mark.parametrize("page", PAGES)
def test_mathematics_rendered(visit, page):
    report = visit(page)
    assert report["mathRendered"] == report["math"], (
        f"{page}: MathJax typeset {report['mathRendered']} of {report['math']} formulas"
    )
    assert report["mathErrors"] == 0, f"{page}: {report['mathErrors']} MathJax errors (bad LaTeX)"
    assert "$$" not in report["prose"], f"{page}: raw $$ left in the text"
    raw = re.findall(r"\$[^$\n]{0,80}\\[A-Za-z]+[^$\n]{0,80}\$", report["prose"])
    assert not raw, f"{page}: untypeset LaTeX in the text: {raw[:3]}"


def _local_target(href: str, base_url: str) -> tuple[Path, str] | None:
    if not href.startswith(base_url):
        return None
    parts = urlsplit(href)
    path = HTML_DIR / unquote(parts.path.lstrip("/"))
    if path.is_dir():
        path = path / "index.html"
    return path, unquote(parts.fragment)


@pytest.mark.parametrize("page", PAGES)
def test_internal_links_resolve(visit, base_url, page):
    broken = []
    for href in visit(page)["links"]:
        target = _local_target(href, base_url)
        if target is None:
            continue
        path, fragment = target
        if not path.is_file():
            broken.append(href)
        elif fragment and path.suffix == ".html":
            html = path.read_text(encoding="utf-8", errors="replace")
            if f'id="{fragment}"' not in html and f'name="{fragment}"' not in html:
                broken.append(href)
    assert not broken, f"{page}: links to missing files or anchors: {sorted(set(broken))}"


def _repository(config: dict) -> tuple[str, str, str, str]:
    repo = config["repository"]
    url = repo["url"].rstrip("/")
    org_repo = urlsplit(url).path.strip("/")
    prefix = repo.get("path_to_book", "").strip("/")
    return url, org_repo, repo.get("branch", "main"), f"{prefix}/" if prefix else ""


@pytest.mark.parametrize("page", PAGES)
def test_edit_and_issue_buttons(visit, config, page):
    url, _, branch, prefix = _repository(config)
    links = visit(page)["links"]
    source = next(s for s in (f"{page}.ipynb", f"{page}.md") if (ROOT / s).is_file())
    assert f"{url}/edit/{branch}/{prefix}{source}" in links, f"{page}: no 'Edit this page' link"
    assert any(h.startswith(f"{url}/issues/new") for h in links), f"{page}: no 'Open issue' link"


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_launch_and_download_links(visit, config, base_url, page):
    """Colab and Binder open this very notebook, from the one repository setting."""
    _, org_repo, branch, prefix = _repository(config)
    launch = config["launch_buttons"]
    notebook = f"{prefix}{page}.ipynb"
    colab = f"{launch['colab_url'].rstrip('/')}/github/{org_repo}/blob/{branch}/{notebook}"
    interface = "lab/tree/" if launch.get("notebook_interface") == "jupyterlab" else "tree/"
    binder = f"{launch['binderhub_url'].rstrip('/')}/v2/gh/{org_repo}/{branch}?urlpath={interface}{notebook}"
    links = visit(page)["links"]
    assert colab in links, f"{page}: no Colab link {colab}"
    assert binder in links, f"{page}: no Binder link {binder}"
    download = f"{base_url}_sources/{page}.ipynb"
    assert download in links, f"{page}: no download link for the notebook"
    assert (HTML_DIR / "_sources" / f"{page}.ipynb").is_file()


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_saved_widgets_render(visit, page):
    report = visit(page)
    if not report["widgetViews"]:
        pytest.skip(f"{page} has no widget")
    assert report["widgetsRendered"] == report["widgetViews"], (
        f"{page}: {report['widgetsRendered']} of {report['widgetViews']} saved widgets rendered"
    )


# Moves the slider of one kernel-free explorer and reports the chart before and after.
SLIDE_JS = r"""
const [id, done] = [arguments[0], arguments[arguments.length - 1]];
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms));
(async () => {
  const chart = document.getElementById(id);
  const slider = chart.querySelector('input[type="range"]');
  const before = chart.querySelector("svg").innerHTML;
  slider.value = slider.value === slider.max ? slider.min : slider.max;
  slider.dispatchEvent(new Event("input", {bubbles: true}));
  await sleep(500);
  done({slider: slider !== null, changed: chart.querySelector("svg").innerHTML !== before});
})();
"""


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_explorers_respond_to_their_slider_without_a_kernel(visit, browser, base_url, page):
    """Each kernel-free explorer (``ha.*_sweep_chart``) draws, and moving its slider redraws it."""
    charts = visit(page)["charts"]
    if not charts:
        pytest.skip(f"{page} has no kernel-free explorer")
    assert all(c["drawn"] for c in charts), f"{page}: charts not drawn: {charts}"
    browser.get(f"{base_url}{page}.html")  # the session's browser may be on another page
    browser.execute_async_script(COLLECT_JS)  # waits until every chart is drawn
    for chart in charts:
        browser.get_log("browser")
        result = browser.execute_async_script(SLIDE_JS, chart["id"])
        assert result["changed"], f"{page}: moving the slider of {chart['id']} changed nothing"
        errors = _severe(browser.get_log("browser"))
        assert not errors, f"{page}: console errors after moving {chart['id']}:\n" + "\n".join(errors)


def _is_progress_bar(output: dict) -> bool:
    """tqdm's notebook bar (a widget too, but nothing to explore): "label: 100%|...| 400/400 [..."."""
    text = "".join(output.get("data", {}).get("text/plain", ""))
    return re.search(r"\|\s*\d+/\d+ \[", text) is not None


def _is_explorer(output: dict) -> bool:
    return WIDGET_VIEW in output.get("data", {}) and not _is_progress_bar(output)


def _has_sweep_chart(cell: dict) -> bool:
    return any(
        'class="sweep-chart"' in "".join(o.get("data", {}).get("text/html", ""))
        for o in cell.get("outputs", [])
    )


@pytest.mark.parametrize("page", NOTEBOOK_PAGES)
def test_each_widget_has_a_kernel_free_twin_beside_it(page):
    """Widgets need a kernel; on the static site a sweep chart with its own slider teaches the same.

    An explorer cell is tagged ``kernel-only`` (its stored output is cleared and the site
    removes it); an explorer stored with its widget output would be a frozen widget.
    """
    cells = [c for c in json.loads((ROOT / f"{page}.ipynb").read_text())["cells"] if c["cell_type"] == "code"]
    for i, cell in enumerate(cells):
        assert not any(_is_explorer(o) for o in cell.get("outputs", [])), (
            f"{page}: code cell {i + 1} stores a frozen widget; tag it kernel-only"
        )
        if "kernel-only" in cell.get("metadata", {}).get("tags", []):
            neighbours = cells[max(0, i - 2) : i + 3]
            assert any(_has_sweep_chart(c) for c in neighbours), (
                f"{page}: the widget of code cell {i + 1} has no kernel-free twin within two cells"
            )


def test_home_page_shows_measured_chapter_times(visit):
    """The run times the nbval run measured appear on the home page (one row per chapter + total)."""
    path = ROOT / "_build" / "notebook_times.json"
    measured = json.loads(path.read_text())["notebooks"] if path.is_file() else {}
    measured = [nb for nb in measured if (ROOT / nb).is_file()]
    if not measured:
        pytest.skip("no _build/notebook_times.json yet (make nbval writes it)")
    rows = visit(PAGES[0])["chapterTimes"]
    assert len(rows) == len(measured) + 1, f"home page shows {len(rows)} rows for {len(measured)} chapters"


def test_search_finds_gumbel(browser, base_url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get_log("browser")
    browser.get(f"{base_url}search.html?q=Gumbel")
    WebDriverWait(browser, 30).until(
        lambda d: (
            d.find_elements(By.CSS_SELECTOR, "#search-results li")
            or "did not match" in (d.find_element(By.ID, "search-results").text or "")
        )
    )
    results = browser.find_elements(By.CSS_SELECTOR, "#search-results li")
    errors = _severe(browser.get_log("browser"))
    assert not errors, "search page console errors:\n" + "\n".join(errors)
    assert results, "searching for 'Gumbel' returned nothing"


def _save_screenshot(browser, base_url: str, page: str, name: str, scroll_to: str | None = None) -> Path:
    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    browser.get(f"{base_url}{page}.html")
    browser.execute_async_script(COLLECT_JS)
    if scroll_to:
        scroll = "const n = document.querySelector(arguments[0]); if (n) n.scrollIntoView({block: 'center'});"
        browser.execute_script(scroll, scroll_to)
    path = SCREENSHOT_DIR / f"{name}.png"
    assert browser.save_screenshot(str(path)), f"could not write {path}"
    return path


def test_screenshots(browser, base_url):
    """The home page and the first chapter (its top, and its first figure), as a reader sees them."""
    paths = [_save_screenshot(browser, base_url, PAGES[0], "home")]
    if NOTEBOOK_PAGES:
        chapter = NOTEBOOK_PAGES[0]
        paths.append(_save_screenshot(browser, base_url, chapter, "chapter"))
        paths.append(_save_screenshot(browser, base_url, chapter, "chapter_figure", ".cell_output img"))
    for path in paths:
        assert path.stat().st_size > 10_000, f"{path} looks empty"
