"""The built book in a real browser: Debian's headless Chromium, driven by Selenium, over the site
served on 127.0.0.1. Each page loads without console errors, its math is typeset by MathJax (no
raw ``$$`` left), its images load and its internal links resolve; the search page finds the
chapters. At a laptop's width (1366 px) and a phone's (390 px), nothing is wider than the column
and the figures' text is legible. Full-page screenshots of each page, at 1280 px and at 390 px
(``phone-*``), are saved in ``_build/screenshots`` for review.

``make test`` installs Chromium first where it can (``make browser``); without it these tests are
skipped and say why.
"""

import functools
import http.server
import re
import shutil
import threading
import urllib.error
import urllib.parse
import urllib.request

import pytest

from autograder.course import BUILD

HTML = BUILD / "html"
SHOTS = BUILD / "screenshots"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
SKIP_PARTS = {"_static", "_sources", "_images", "_sphinx_design_static"}

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="Chromium and ChromeDriver are not installed (Debian: apt-get install chromium chromium-driver; "
           "`make browser` does it as root)")


def site_pages():
    """The book's pages, relative to the site (the generated index and search pages aside)."""
    return sorted(p.relative_to(HTML).as_posix() for p in HTML.rglob("*.html")
                  if not SKIP_PARTS & set(p.relative_to(HTML).parts) and p.name not in ("genindex.html", "search.html"))


@pytest.fixture(scope="module")
def site():
    """The built site served on 127.0.0.1 (a free port); its base URL."""
    assert (HTML / "index.html").exists(), "run `make book` first"
    handler = functools.partial(QuietHandler, directory=str(HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--window-size=1280,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


def load(browser, url):
    """Open ``url`` and wait until the page and MathJax are done; the console's messages so far."""
    browser.get(url)
    browser.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const typeset = () => (window.MathJax && MathJax.startup && MathJax.startup.promise)
            ? MathJax.startup.promise.then(() => done(true)) : done(false);
        if (document.readyState === "complete") typeset(); else window.addEventListener("load", typeset);
    """)
    return browser.get_log("browser")


def screenshot(browser, name, width=1280):
    """A full-page screenshot of the current page at ``width`` (the window grown to the page's
    height)."""
    height = browser.execute_script("return Math.min(document.documentElement.scrollHeight, 16000)")
    browser.set_window_size(width, max(height, 800))
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(SHOTS / (name.replace("/", "__").removesuffix(".html") + ".png")))
    browser.set_window_size(1280, 1000)


def internal_links(browser, base):
    return {href for href in browser.execute_script(
        "return Array.from(document.querySelectorAll('a[href]')).map(a => a.href)") if href.startswith(base)}


@functools.cache
def fetch(url):
    """The text of a page of the site, or None when it does not answer 200."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError:
        return None


def test_the_book_has_every_page():
    pages = site_pages()
    for expected in ("index.html", "book/intro.html", "book/colab.html", "book/grading.html", "book/references.html"):
        assert expected in pages
    assert sum(p.startswith("notebooks/ch") for p in pages) == 4


@pytest.mark.parametrize("page", site_pages())
def test_page_in_a_real_browser(page, site, browser):
    url = site + page
    console = load(browser, url)
    errors = [entry["message"] for entry in console if entry["level"] == "SEVERE"]
    assert not errors, f"console errors on {page}: {errors}"

    text = browser.execute_script("return document.body.innerText")
    assert "$$" not in text, f"untypeset display math on {page}"
    raw_roles = re.findall(r"\{(?:cite|eq|numref|doc)(?::\w+)?\}`", text)
    assert not raw_roles, f"MyST roles left unrendered on {page}: {raw_roles[:3]}"
    math = browser.execute_script("return document.querySelectorAll('.math').length")
    typeset = browser.execute_script("return document.querySelectorAll('mjx-container').length")
    assert typeset >= math, f"{math} math elements but {typeset} typeset by MathJax on {page}"

    broken = browser.execute_script("""
        return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src)""")
    assert not broken, f"images that did not load on {page}: {broken}"
    no_alt = browser.execute_script("""
        return Array.from(document.querySelectorAll('article img')).filter(i => !i.alt.trim()).map(i => i.src)""")
    assert not no_alt, f"images without alt text on {page}: {no_alt}"

    for link in internal_links(browser, site):
        target, _, anchor = link.partition("#")
        body = fetch(target)
        assert body is not None, f"{page} links to {link}, which does not exist"
        if anchor and target.endswith(".html"):
            assert f'id="{urllib.parse.unquote(anchor)}"' in body, f"{page} links to {link}: no such anchor"
    screenshot(browser, page)


def test_search_finds_the_chapters(site, browser):
    load(browser, site + "search.html?q=quantization")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 30).until(
        lambda b: b.execute_script("return document.querySelectorAll('#search-results li').length") > 0)
    hits = browser.execute_script(
        "return Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href)")
    assert any("notebooks/ch01_minmax" in hit for hit in hits), hits
    screenshot(browser, "search.html")


SIDEBARS = """const place = s => { const e = document.querySelector(s), r = e.getBoundingClientRect();
    return r.right > 0 && r.left < innerWidth && getComputedStyle(e).visibility !== 'hidden'; };
    const shown = s => [...document.querySelectorAll(s)].filter(e => e.getBoundingClientRect().width > 0).length;
    return {primary: place('.bd-sidebar-primary'), secondary: place('.bd-sidebar-secondary'),
            searches: shown('.search-button-field, .search-button')};"""


def click_visible(browser, selector):
    from selenium.webdriver.common.by import By

    buttons = [b for b in browser.find_elements(By.CSS_SELECTOR, selector) if b.is_displayed()]
    assert len(buttons) == 1, f"one visible {selector}, found {len(buttons)}"
    buttons[0].click()
    browser.implicitly_wait(0)
    return browser.execute_script("return new Promise(r => setTimeout(() => r(true), 600))")


@pytest.mark.parametrize("width", [1366, 390])
def test_the_chapter_list_and_contents_buttons_work(width, site, browser):
    """At a laptop's width the chapter list is open and ☰ folds it; at a phone's both drawers are
    closed, and ☰ and the contents button open them. One search field a page, not two."""
    page = site + "notebooks/" + chapters_pages()[0]
    try:
        browser.set_window_size(width, 900)
        load(browser, page)
        before = browser.execute_script(SIDEBARS)
        assert before["searches"] == 1, before
        assert before["primary"] == (width > 960), before
        click_visible(browser, ".primary-toggle")
        assert browser.execute_script(SIDEBARS)["primary"] != before["primary"], "☰ does nothing"
        if width < 960:
            load(browser, page)
            click_visible(browser, ".secondary-toggle")
            assert browser.execute_script(SIDEBARS)["secondary"], "the contents button does nothing"
    finally:
        browser.set_window_size(1280, 1000)


def chapters_pages():
    return [p.removeprefix("notebooks/") for p in site_pages() if p.startswith("notebooks/ch")]


def reader_pages():
    """The pages a reader reads: the book's own and the four chapters."""
    return [p for p in site_pages() if p.startswith(("book/", "notebooks/ch"))]


# What sticks out of the column, as a reader at ``width`` meets it: the page itself scrolling
# sideways, a code cell, a display equation or a table wider than its box (a table may scroll
# inside its output), and at a laptop's width a printed output too (on a phone an output line
# scrolls inside its own box, which is there for that).
OVERFLOW = """
const laptop = arguments[0] > 960, article = document.querySelector('article.bd-article');
const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
const text = e => (e.innerText || '').trim().replace(/\\s+/g, ' ').slice(0, 60);
const wide = [];
const root = document.documentElement;
if (root.scrollWidth > root.clientWidth + 1) wide.push(['the page', root.scrollWidth - root.clientWidth, '']);
const check = (selector, kind, allowed) => {
  for (const e of article.querySelectorAll(selector)) {
    const over = e.scrollWidth - e.clientWidth;
    if (over > 1 && !allowed(e)) wide.push([kind, over, text(e)]);
  }
};
check('div.cell_input pre', 'code', e => false);
check('mjx-container[display="true"]', 'equation', e => false);
const scrollsAbove = e => {
  for (let a = e.parentElement; a && a !== article; a = a.parentElement) if (scrolls(a)) return true;
  return false;
};
check('table', 'table', e => !laptop && scrollsAbove(e));
check('div.cell_output pre', 'output', e => !laptop && scrolls(e));
for (const t of article.querySelectorAll('table')) {
  const over = t.getBoundingClientRect().width - article.getBoundingClientRect().width;
  if (over > 1 && (laptop || !scrollsAbove(t))) wide.push(['table', Math.round(over), text(t)]);
}
return wide;
"""

# Each figure of an output: the width it was drawn for (its CSS width: a 2x PNG is shown at half
# its pixels) and the width it is shown at.
FIGURES = """
return Array.from(document.querySelectorAll('article div.cell_output img')).map(i => ({
  src: i.src.split('/').pop(), drawn: parseFloat(i.style.width) || i.naturalWidth,
  shown: i.getBoundingClientRect().width}));
"""


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("page", reader_pages())
def test_nothing_is_wider_than_the_column(page, width, site, browser):
    try:
        browser.set_window_size(width, 900)
        load(browser, site + page)
        wide = browser.execute_script(OVERFLOW, width)
        assert not wide, f"{page} at {width} px: wider than its column (kind, px, text): {wide[:8]}"
        if width < 960:
            screenshot(browser, f"phone-{page}", width)
    finally:
        browser.set_window_size(1280, 1000)


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("chapter", [p for p in reader_pages() if p.startswith("notebooks/")])
def test_figures_are_drawn_for_the_column_and_their_text_is_legible(chapter, width, site, browser):
    """At a laptop's width each figure is shown at 90 % of the width it was drawn for or more; its
    text, drawn at FIGURE_FONT_PT at 100 dpi, is at least 9 CSS px at both widths."""
    from autograder.course import FIGURE_FONT_PT

    try:
        browser.set_window_size(width, 900)
        load(browser, site + chapter)
        figures = browser.execute_script(FIGURES)
        assert figures, f"no figure on {chapter}"
        for figure in figures:
            scale = figure["shown"] / figure["drawn"]
            if width > 960:
                assert scale >= 0.9, f"{chapter}: {figure['src']} drawn {figure['drawn']} px wide, shown at {scale:.0%}"
            text_px = FIGURE_FONT_PT * 100 / 72 * min(scale, 1)
            assert text_px >= 9, f"{chapter} at {width} px: {figure['src']}'s text is {text_px:.1f} px"
    finally:
        browser.set_window_size(1280, 1000)
