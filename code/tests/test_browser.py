"""The built site in a real browser: every page has no console error and makes no request
off the machine, and every formula renders; every slider of every explorer changes the drawn
pixels; hover and touch read out; the explorers follow the theme's dark mode.

Needs a built site (``make book``) and Chromium (Debian's ``chromium``, or
``playwright install chromium``). Screenshots are saved to ``_build/screenshots/``.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import pathlib
import socket
import threading
import urllib.request
from typing import Any

import pytest

from bookext.browser import OfflinePage, serve, site_pages

sync_api = pytest.importorskip("playwright.sync_api")

ROOT = pathlib.Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
PAGES = site_pages(SITE) if SITE.is_dir() else []
WIDGET_PAGES = [
    p
    for p in PAGES
    if "application/vnd.jupyter.widget-state+json" in (SITE / p).read_text("utf-8")
]


# Off the machine in every way a page can ask: a stylesheet, an image by host name and by IP
# address, a script, and a fetch of this machine's own non-loopback address, which does answer
# (the machine may have no route out, so only that one shows that the block, not the network,
# stopped the request).
OFF_MACHINE = [
    "http://example.com/theme.css",
    "http://93.184.216.34/logo.png",
    "https://cdn.example.org/lib.js",
]
LEAKY_PAGE = """<!doctype html><html><head>
<link rel="stylesheet" href="{0}"><link rel="stylesheet" href="own.css"></head>
<body><p>leaky</p><img alt="logo" src="{1}"><script src="{2}"></script>
<script>fetch("{3}", {{mode: "no-cors"}}).then(() => console.log("fetched 1"), () => console.log("fetched 0"))</script>
</body></html>"""


def _own_address() -> str:
    """This machine's address on its outward interface (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("203.0.113.1", 9))  # TEST-NET-3: any outward route will do
        return s.getsockname()[0]


def test_offline_page_stops_and_lists_every_request_off_the_machine(
    browser: Any, tmp_path: pathlib.Path
) -> None:
    """The browser tests' and benchmarks' claim "no request left the machine" rests on this."""
    (tmp_path / "index.html").write_text("<p>index</p>", encoding="utf-8")
    (tmp_path / "own.css").write_text("p { color: teal }", encoding="utf-8")
    own = _own_address()
    if own.startswith("127."):
        pytest.skip("no network interface but loopback")
    outward = http.server.ThreadingHTTPServer(
        (own, 0),
        functools.partial(http.server.SimpleHTTPRequestHandler, directory=tmp_path),
    )
    threading.Thread(target=outward.serve_forever, daemon=True).start()
    answering = f"http://{own}:{outward.server_address[1]}/own.css"
    (tmp_path / "leaky.html").write_text(
        LEAKY_PAGE.format(*OFF_MACHINE, answering), encoding="utf-8"
    )
    try:
        direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with direct.open(answering, timeout=10) as response:  # it does answer
            assert response.status == 200
        with (
            serve(tmp_path) as url,
            OfflinePage(browser, url + "leaky.html") as visit,
        ):
            assert visit.wait_for_console("fetched ") == 0  # the fetch failed
            assert sorted(visit.blocked) == sorted([*OFF_MACHINE, answering])
            assert sorted(u.removeprefix(url) for u in visit.fetched) == [
                "leaky.html",
                "own.css",
            ]
            assert visit.page.evaluate("document.images[0].naturalWidth") == 0
            # the page's own stylesheet applied: the failed requests held nothing up
            assert (
                visit.page.evaluate(
                    "getComputedStyle(document.querySelector('p')).color"
                )
                == "rgb(0, 128, 128)"
            )
    finally:
        outward.shutdown()
        outward.server_close()


def test_chromium_keeps_playwrights_disabled_features_and_ours(
    browser: Any,
) -> None:
    """Chromium obeys only the last ``--disable-features`` switch, which is ours
    (``bookext.browser.CHROMIUM_FLAGS``): it must still name every feature that Playwright's own
    switch does (a Playwright release may add one), and the omnibox popup's."""
    page = browser.new_page()
    try:
        page.goto("chrome://version")
        args = page.locator("#command_line").inner_text().split()
    finally:
        page.close()
    switches = [
        a.removeprefix("--disable-features=").split(",")
        for a in args
        if a.startswith("--disable-features=")
    ]
    assert len(switches) >= 2, args  # Playwright's, then ours
    assert set().union(*switches) <= set(switches[-1])
    assert {"WebUIOmniboxPopup", "WebUIOmniboxAimPopup"} <= set(switches[-1])


def test_site_was_built() -> None:
    assert "index.html" in PAGES, f"no built site at {SITE}; run `make book` first"
    assert WIDGET_PAGES, (
        "no page embeds widget state: the explorers were not saved by the build"
    )


def _shot(page: str, suffix: str = "") -> str:
    SHOTS.mkdir(parents=True, exist_ok=True)
    return str(
        SHOTS / (page.replace("/", "__").removesuffix(".html") + suffix + ".png")
    )


def _digest(locator: Any) -> str:
    return hashlib.sha256(locator.screenshot()).hexdigest()


# MathJax marks what it cannot typeset with <mjx-merror>, and (noundefined) an unknown macro as
# red text that starts with a backslash.
MATH_PROBLEMS_JS = """() => [
  ...[...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error') || e.textContent),
  ...[...document.querySelectorAll('mjx-container mjx-mtext')].map(e => e.textContent).filter(t => t.startsWith('\\\\')),
]"""


@pytest.mark.parametrize("page", PAGES)
def test_page_is_clean_offline(browser: Any, base_url: str, page: str) -> None:
    with OfflinePage(browser, base_url + page) as visit:
        if page in WIDGET_PAGES:
            visit.wait_for_explorers()
        rendered = visit.wait_for_math()
        visit.page.screenshot(path=_shot(page))
        assert visit.blocked == [], (
            f"{page} tried to reach off-machine URLs: {visit.blocked}"
        )
        assert visit.errors == [], f"{page} logged console errors: {visit.errors}"
        # Font Awesome's script is gone and its fonts are cut to the site's glyphs (bookext/icons.py);
        # an icon missing from the cut fonts would make the browser fetch the theme's full font.
        full = [u for u in visit.fetched if "fontawesome" in u]
        assert full == [], (
            f"{page} fetched Font Awesome's full script or fonts: {full}"
        )
        formulas = visit.page.locator(
            ".math"
        ).count()  # Sphinx's inline and display math
        assert rendered >= formulas, (
            f"{page}: {formulas} formulas but only {rendered} typeset"
        )
        assert visit.page.evaluate(MATH_PROBLEMS_JS) == [], (
            f"{page}: MathJax could not typeset some formulas"
        )
        assert "Undefined control sequence" not in visit.page.inner_text("body")


@pytest.mark.parametrize("page", WIDGET_PAGES)
def test_every_slider_changes_the_figure(
    browser: Any, base_url: str, page: str
) -> None:
    with OfflinePage(browser, base_url + page) as visit:
        n = visit.wait_for_explorers()
        moved = 0
        for i in range(n):
            explorer = visit.page.locator(".attn-explorer").nth(i)
            explorer.evaluate(
                "e => e.scrollIntoView({block: 'center'})"
            )  # clear of the sticky header
            canvas = explorer.locator("canvas.attn-heatmap")
            sliders = explorer.locator("input[type=range]")
            for j in range(sliders.count()):
                slider = sliders.nth(j)
                if slider.is_disabled():  # an axis with a single value cannot move
                    continue
                before = _digest(canvas)
                at_end = slider.evaluate("s => Number(s.value) >= Number(s.max)")
                slider.focus()
                slider.press(
                    "ArrowLeft" if at_end else "ArrowRight"
                )  # the keyboard path readers use
                assert _digest(canvas) != before, (
                    f"{page}: explorer {i}, slider {j} moved but the heatmap did not change"
                )
                moved += 1
            explorer.screenshot(path=_shot(page, f"__explorer{i}"))
        assert moved > 0, f"{page}: no movable slider found"
        assert visit.blocked == [] and visit.errors == [], (
            visit.blocked,
            visit.errors,
        )


def _first_explorer(
    visit: OfflinePage,
) -> tuple[Any, dict[str, float], Any, str, str | None]:
    """The page's first explorer scrolled into view: (explorer, heatmap box, read-out, its hint text, data-drawn)."""
    visit.wait_for_explorers()
    explorer = visit.page.locator(".attn-explorer").first
    explorer.evaluate("e => e.scrollIntoView({block: 'center'})")
    readout = explorer.locator(".attn-readout")
    box = explorer.locator("canvas.attn-heatmap").bounding_box()
    return (
        explorer,
        box,
        readout,
        readout.inner_text(),
        explorer.get_attribute("data-drawn"),
    )


def test_hover_reads_out_the_weight(browser: Any, base_url: str) -> None:
    page = WIDGET_PAGES[0]
    with OfflinePage(browser, base_url + page) as visit:
        explorer, box, readout, hint, drawn = _first_explorer(visit)
        visit.page.mouse.move(
            box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"]
        )
        text = readout.inner_text()
        assert text != hint, "hovering a cell did not change the read-out"
        value = float(text.rsplit(":", 1)[1])
        assert 0.0 <= value <= 1.0, f"read-out {text!r} is not an attention weight"
        visit.page.mouse.move(
            box["x"] + 0.3 * box["width"], box["y"] + 0.2 * box["height"]
        )
        visit.page.mouse.move(
            box["x"] - 5, box["y"] - 5
        )  # leaving the canvas restores the hint
        assert readout.inner_text() == hint
        assert explorer.get_attribute("data-drawn") == drawn, (
            "moving the pointer repainted the grid"
        )


def _luminance(png: bytes) -> float:
    from PIL import Image, ImageStat

    grey = Image.open(io.BytesIO(png)).convert("L")
    return ImageStat.Stat(grey).mean[0] / 255


def test_explorers_follow_the_dark_theme(browser: Any, base_url: str) -> None:
    page = WIDGET_PAGES[0]
    with OfflinePage(browser, base_url + page) as visit:
        explorer = _first_explorer(visit)[0]
        light = explorer.screenshot(path=_shot(page, "__light"))
        drawn = int(explorer.get_attribute("data-drawn"))
        visit.page.evaluate(
            "document.documentElement.dataset.theme = 'dark'"
        )  # as the theme's switch does
        explorer.evaluate(
            f"e => new Promise(ok => (function poll() {{ Number(e.dataset.drawn) > {drawn} ? ok() : "
            "requestAnimationFrame(poll); })())"
        )
        dark = explorer.screenshot(path=_shot(page, "__dark"))
        text = explorer.evaluate(
            "e => getComputedStyle(e).getPropertyValue('--attn-text').trim()"
        )
        page_text = visit.page.evaluate(
            "getComputedStyle(document.documentElement).getPropertyValue('--pst-color-text-base').trim()"
        )
        assert text == page_text, "the explorer's text colour is not the theme's"
        assert _luminance(dark) < _luminance(light) - 0.2, (
            "the explorer stayed light in dark mode"
        )
        assert visit.errors == []


def test_touch_tap_reads_out_a_cell(browser: Any, base_url: str) -> None:
    page = WIDGET_PAGES[0]
    with OfflinePage(
        browser, base_url + page, viewport=(412, 915), touch=True
    ) as visit:
        explorer, box, readout, hint, drawn = _first_explorer(visit)
        visit.page.touchscreen.tap(
            box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"]
        )
        text = readout.inner_text()
        assert text != hint, "tapping a cell did not change the read-out"
        assert 0.0 <= float(text.rsplit(":", 1)[1]) <= 1.0
        explorer.screenshot(path=_shot(page, "__touch"))
        assert readout.inner_text() == text, (
            "the read-out vanished when the finger lifted"
        )
        assert explorer.get_attribute("data-drawn") == drawn, (
            "a tap repainted the grid"
        )
        assert visit.errors == []


CHAPTER_PAGES = [
    p for p in PAGES if p.startswith("chapters/") and p.split("/")[1][:2].isdigit()
]
FIGURES = {p.name for p in (ROOT / "chapters" / "figures").glob("*.svg")}
#: The width the book's pages are checked at (a common laptop screen).
LAPTOP = (1366, 900)
#: A narrower common screen: 1920 px at 150 % zoom. Code fits here only in a smaller font.
SMALL_LAPTOP = (1280, 800)

# Code and printed output: code cells' inputs and outputs, literalincludes.
WIDE_CODE_JS = """() => [...document.querySelectorAll('article div.highlight pre')]
  .filter(pre => pre.scrollWidth > pre.clientWidth)
  .map(pre => {
    const lines = pre.textContent.split('\\n');  // also in a collapsed block (no innerText)
    const longest = lines.reduce((a, b) => (b.length > a.length ? b : a), '');
    const shown = pre.checkVisibility() ? '' : ' (collapsed)';
    const font = getComputedStyle(pre).fontSize;
    return `${pre.scrollWidth} > ${pre.clientWidth} px at ${font}${shown}, ${longest.length} chars: ${longest.trim()}`;
  })"""
# Every code block (outputs too): its longest line, the --cols the build wrote for it (bookext.
# _code_columns), its font size and the theme's (0.875em of the block's parent).
CODE_FONTS_JS = """() => [...document.querySelectorAll('article div.highlight')].map(block => {
  const pre = block.querySelector('pre');
  return {
    longest: Math.max(...pre.textContent.split('\\n').map(line => line.length)),
    cols: block.style.getPropertyValue('--cols').trim(),
    font: parseFloat(getComputedStyle(pre).fontSize),
    theme: 0.875 * parseFloat(getComputedStyle(block).fontSize),
  };
})"""


@pytest.mark.parametrize("viewport", [LAPTOP, SMALL_LAPTOP], ids=["1366", "1280"])
@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_no_code_block_scrolls_sideways(
    browser: Any, base_url: str, page: str, viewport: tuple[int, int]
) -> None:
    with OfflinePage(browser, base_url + page, viewport=viewport) as visit:
        visit.page.evaluate("document.fonts.ready")
        assert visit.page.locator("article div.highlight pre").count() > 0, (
            f"{page}: no code block found: did the theme's markup change?"
        )
        wide = visit.page.evaluate(WIDE_CODE_JS)
        blocks = visit.page.evaluate(CODE_FONTS_JS)
    assert wide == [], (
        f"{page} at {viewport[0]} px: {len(wide)} code block(s) scroll sideways:\n"
        + "\n".join(wide)
    )
    # the page sizes each block's font from its --cols, between 12 px and the theme's 14 px
    wrong = [b for b in blocks if b["cols"] != str(b["longest"])]
    assert not wrong, f"{page}: --cols is not the longest line: {wrong}"
    assert all(12 - 0.01 <= b["font"] <= b["theme"] + 0.01 for b in blocks), blocks
    # at 1366 px, 80 columns fit at the theme's size (in a solution's frame too)
    shrunk = [
        b for b in blocks if b["longest"] <= 80 and b["font"] < b["theme"] - 0.01
    ]
    assert viewport != LAPTOP or not shrunk, f"{page}: needlessly smaller: {shrunk}"


@pytest.mark.parametrize("page", CHAPTER_PAGES)
def test_diagrams_load_and_have_alt_text(
    browser: Any, base_url: str, page: str
) -> None:
    with OfflinePage(browser, base_url + page, viewport=LAPTOP) as visit:
        images = visit.page.locator("article img")
        found = []
        for i in range(images.count()):
            image = images.nth(i)
            name = (image.get_attribute("src") or "").rsplit("/", 1)[-1]
            if name not in FIGURES:
                continue
            image.scroll_into_view_if_needed()  # loads a lazy image
            image.evaluate(
                "img => img.complete || new Promise(ok => { img.onload = img.onerror = ok; })"
            )
            width, alt = image.evaluate("img => [img.naturalWidth, img.alt.trim()]")
            found.append((name, width, alt))
        assert visit.errors == []
    if not found:
        pytest.skip(f"{page} shows no diagram of chapters/figures/")
    assert [f for f in found if f[1] <= 0] == [], f"{page}: diagrams did not load"
    assert [f[0] for f in found if not f[2]] == [], (
        f"{page}: diagrams without alt text"
    )


def test_deferred_theme_scripts_still_work(browser: Any, base_url: str) -> None:
    """bookext defers the theme's head scripts and runs them from one bundle; each must still do
    its job on a chapter page: copy buttons, solution toggles, the launch/download menus."""
    page = next(p for p in WIDGET_PAGES if p.startswith("chapters/"))
    with OfflinePage(browser, base_url + page) as visit:
        p = visit.page
        code_blocks = p.locator("div.highlight pre").count()
        assert code_blocks > 0
        assert p.locator("button.copybtn").count() == code_blocks  # copybutton.js
        dropdown = p.locator(".admonition.dropdown").first  # togglebutton.js
        assert "toggle-hidden" in (dropdown.get_attribute("class") or "")
        dropdown.locator("button.toggle-button").click()
        p.wait_for_function(
            "e => !e.classList.contains('toggle-hidden')",
            arg=dropdown.element_handle(),
        )
        # bootstrap's dropdown menus (launch, download)
        menu = p.locator('button[aria-label="Download this page"]')
        menu.click()
        assert menu.get_attribute("aria-expanded") == "true"
        # the search box opens the search page, which loads the search scripts itself
        assert p.evaluate("() => typeof Search") == "undefined"
        assert p.evaluate("() => DOCUMENTATION_OPTIONS.search_as_you_type") is False
        assert visit.errors == [], visit.errors


def test_search_page_finds_a_term(browser: Any, base_url: str) -> None:
    with OfflinePage(browser, base_url + "search.html?q=attention") as visit:
        visit.page.wait_for_function(
            "() => document.querySelectorAll('#search-results li').length > 0"
        )
        assert visit.errors == [], visit.errors
        assert visit.blocked == []


SKIPPED_JS = """() => [...document.querySelectorAll('.bd-article section section')]
  .filter(s => getComputedStyle(s).contentVisibility === 'auto').length"""


def test_sections_render_near_the_screen_only_while_loading(
    browser: Any, base_url: str
) -> None:
    """bookext lets the browser skip a chapter's sections that are off screen while the page loads
    (``content-visibility: auto``, templates/layout.html), and renders all of them at ``load``.
    A visit to an anchor skips nothing and lands on its heading; the contents in the right-hand
    sidebar follow the reader's scrolling; search highlighting reaches every section."""
    page = "chapters/04_bahdanau_attention.html"
    with OfflinePage(
        browser, base_url + page, cpu_slowdown=4, wait_until="commit"
    ) as visit:
        p = visit.page
        p.wait_for_function("() => document.querySelector('#exercises') !== null")
        assert p.evaluate(SKIPPED_JS) > 5, (
            "no section is content-visibility: auto while loading"
        )
        p.wait_for_function("() => document.readyState === 'complete'")
        assert p.evaluate(SKIPPED_JS) == 0, "sections still skipped after load"
        # the contents' scroll-spy (pydata-sphinx-theme's IntersectionObserver) follows a scroll
        p.evaluate("() => document.querySelector('#training').scrollIntoView()")
        p.wait_for_function(
            "() => document.querySelector('#pst-page-toc-nav a[href=\"#training\"]').classList.contains('active')"
        )
        assert visit.errors == [], visit.errors
    for anchor in ("exercises", "where-does-the-decoder-look"):
        url = f"{base_url}{page}?highlight=decoder#{anchor}"
        with OfflinePage(browser, url) as visit:
            p = visit.page
            visit.wait_for_explorers()
            visit.wait_for_math()
            assert p.evaluate(SKIPPED_JS) == 0
            # the heading is at the top of the window, under the sticky header
            top = p.evaluate(
                f"() => document.querySelector('#{anchor}').getBoundingClientRect().top"
            )
            header = p.evaluate(
                "() => document.querySelector('#pst-header').getBoundingClientRect().height"
            )
            assert abs(top - header) <= 2, (anchor, top, header)
            p.screenshot(path=_shot(page, f"__anchor_{anchor}"))
            # sphinx_highlight.js marks the term
            assert (
                p.locator("section#the-model-in-code span.highlighted").count() > 0
            )
            assert visit.errors == [], visit.errors
