"""The built HTML (no browser): scripts only where needed, launch buttons, execution table."""

from __future__ import annotations

import base64
import io
import json
import pathlib
import re
from typing import Any

import pytest
import yaml

from attnbook.viz.explorer import CONTRACT
from bookext import (
    EXPLORER,
    EXPLORER_ID,
    LIGHT_SCRIPT,
    MATHJAX,
    SCRIPTS,
    STATIC_DIR,
    needs_full_manager,
)
from bookext.browser import site_pages
from bookext.bundle import BUNDLE_DIR, unbundled

ROOT = pathlib.Path(__file__).resolve().parents[2]
SITE = ROOT / "_build" / "html"
PAGES = site_pages(SITE) if SITE.is_dir() else []
CHAPTERS = sorted(p.stem for p in (ROOT / "chapters").glob("[0-9][0-9]_*.md"))
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
REPO = CONFIG["repository"]["url"].rstrip("/")
pytestmark = pytest.mark.skipif(not PAGES, reason="no built site: run `make book`")


def raw_html(page: str) -> str:
    return (SITE / page).read_text(encoding="utf-8")


def html(page: str) -> str:
    """A page as Sphinx wrote it, before bookext bundled its stylesheets and scripts."""
    return unbundled(raw_html(page))


def script_srcs(page: str) -> list[str]:
    return re.findall(r'<script[^>]*\ssrc="([^"]+)"', html(page))


def widget_state(page: str) -> dict[str, Any] | None:
    found = re.search(
        r'<script type="application/vnd\.jupyter\.widget-state\+json">(.*?)</script>',
        html(page),
        re.DOTALL,
    )
    return json.loads(found.group(1)) if found else None


@pytest.mark.parametrize("page", PAGES)
def test_widget_scripts_load_only_where_widgets_are(page: str) -> None:
    state = widget_state(page)
    loaded = [
        s.split(f"{STATIC_DIR}/")[1].split("?")[0]
        for s in script_srcs(page)
        if f"_static/{STATIC_DIR}/" in s
    ]
    loaded = [s for s in loaded if not s.startswith("mathjax/")]
    if state is None:
        assert loaded == [], (
            f"{page} loads widget scripts it does not need: {loaded}"
        )
    elif needs_full_manager(state, html(page)):
        assert loaded == list(SCRIPTS)
    else:  # only explorers: the book's small loader, not the 3.5 MB widget manager
        assert loaded == [LIGHT_SCRIPT]


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_explorers_use_the_small_loader_and_the_sites_front_end(
    stem: str,
) -> None:
    page = f"chapters/{stem}.html"
    state = widget_state(page)
    if state is None:
        pytest.skip(f"{stem} has no widgets")
    assert not needs_full_manager(state, html(page)), (
        f"{page} displays a widget that needs the full manager"
    )
    explorers = [
        m["state"]
        for m in state["state"].values()
        if m["state"].get("_anywidget_id") == EXPLORER_ID
    ]
    assert explorers
    for model in explorers:
        assert (
            model["_esm"] == f"../_static/{STATIC_DIR}/{EXPLORER}"
        )  # one cached file, not a copy per figure
        assert model["contract_version"] == CONTRACT["version"], (
            "stale execution cache: re-execute the chapters"
        )
    assert (SITE / "_static" / STATIC_DIR / EXPLORER).is_file()


@pytest.mark.parametrize("page", PAGES)
def test_math_uses_the_small_local_mathjax(page: str) -> None:
    mathjax = [
        s for s in script_srcs(page) if "mathjax" in s.lower() or "tex-" in s
    ]
    assert all(f"_static/{STATIC_DIR}/{MATHJAX}" in s for s in mathjax), mathjax


@pytest.mark.parametrize("page", PAGES)
def test_no_script_or_stylesheet_comes_from_off_the_site(page: str) -> None:
    text = html(page)
    external = re.findall(
        r'<(?:script|link)[^>]*\s(?:src|href)="(https?://[^"]+)"', text
    )
    assert external == [], f"{page} pulls assets from the network: {external}"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_chapter_launch_buttons_open_the_paired_notebook(stem: str) -> None:
    text = html(f"chapters/{stem}.html")
    owner_repo = REPO.removeprefix("https://github.com/")
    assert (
        f"https://colab.research.google.com/github/{owner_repo}/blob/main/chapters/{stem}.ipynb"
        in text
    )
    assert (
        f"https://mybinder.org/v2/gh/{owner_repo}/main?urlpath=lab/tree/chapters/{stem}.ipynb"
        in text
    )
    assert "btn-launch-thebe" in text


def test_execution_statistics_page_lists_every_chapter_as_succeeded() -> None:
    text = html("chapters/execution.html")
    for stem in CHAPTERS:
        row = re.search(
            rf'<span class="doc">chapters/{stem}</span>.*?</td>\s*<td><p>[^<]+</p></td>\s*<td><p>(\w+)</p></td>'
            rf"\s*<td><p>([\d.]+)</p></td>\s*<td><p>([^<]+)</p></td>",
            text,
            flags=re.DOTALL,
        )
        assert row, f"{stem} missing from the execution table"
        method, seconds, status = row.groups()
        assert method == "cache" and float(seconds) > 0 and status == "✅", (
            row.groups()
        )


@pytest.mark.parametrize("page", PAGES)
def test_icons_come_from_the_cut_fonts_not_fontawesome_js(page: str) -> None:
    text = html(page)
    if "<head" not in text:
        pytest.skip(f"{page} is a redirect")
    assert "fontawesome.js" not in text, f"{page} still loads Font Awesome's script"
    styles = re.findall(r'<link[^>]*href="([^"]+\.css)[^"]*"', text)
    names = [s.rsplit("/", 1)[-1] for s in styles]
    assert "icons.css" in names, f"{page} does not load {STATIC_DIR}/icons.css"
    assert names.index("icons.css") > names.index("pydata-sphinx-theme.css"), (
        "icons.css must come after the theme's stylesheet for its @font-face rules to win"
    )


def test_cut_icon_fonts_hold_every_icon_the_site_uses() -> None:
    from fontTools.ttLib import TTFont

    from bookext.icons import class_codepoints, theme_css, used_codepoints

    table = class_codepoints(theme_css().read_text(encoding="utf-8"))
    used, missing = used_codepoints((html(p) for p in PAGES), [], table)
    assert missing == []
    icons = (SITE / "_static" / STATIC_DIR / "icons.css").read_text(
        encoding="utf-8"
    )
    fonts = re.findall(r"url\(data:font/woff;base64,([A-Za-z0-9+/=]+)\)", icons)
    assert len(fonts) == 3, "icons.css holds the three Font Awesome fonts inline"
    held = set()
    for data in fonts:
        font = base64.b64decode(data)
        held |= set(TTFont(io.BytesIO(font)).getBestCmap())
        assert len(font) < 20_000, "a font was not cut down"
    assert used - held == set(), (
        f"icons missing from the cut fonts: {sorted(map(hex, used - held))}"
    )


def head_scripts(page: str) -> list[tuple[str, bool]]:
    """(src, holds up the parser) of every external script in a page's head."""
    head = html(page).split("</head>", 1)[0]
    return [
        (src.group(1), not re.search(r"\s(defer|async)[\s=>]", tag + ">"))
        for tag in re.findall(r"<script[^>]*>", head)
        if (src := re.search(r'\ssrc="([^"]+)"', tag))
    ]


@pytest.mark.parametrize("page", [p for p in PAGES if p != "search.html"])
def test_only_the_widget_loaders_hold_up_the_parser(page: str) -> None:
    """The theme's and extensions' head scripts are deferred: a chapter's explorers draw while
    the parser passes them, and a script that blocks the parser delays every one of them."""
    allowed = {"documentation_options.js", LIGHT_SCRIPT, *SCRIPTS}
    blocking = [
        src
        for src, blocks in head_scripts(page)
        if blocks and src.split("?")[0].rsplit("/", 1)[-1] not in allowed
    ]
    assert blocking == [], f"{page}: scripts that hold up the parser: {blocking}"
    search = [
        blocks for src, blocks in head_scripts(page) if "searchindex.js" in src
    ]
    assert search in ([], [False]), f"{page} loads the search index parser-blocking"


@pytest.mark.parametrize("stem", CHAPTERS)
def test_explorer_pages_preload_the_explorer(stem: str) -> None:
    page = f"chapters/{stem}.html"
    state = widget_state(page)
    if state is None or needs_full_manager(state, html(page)):
        pytest.skip(f"{stem} has no page the small loader draws")
    head = html(page).split("</head>", 1)[0]
    assert (
        f'<link rel="modulepreload" href="../_static/{STATIC_DIR}/{EXPLORER}"'
        in head
    )


@pytest.mark.parametrize("page", PAGES)
def test_a_page_requests_one_stylesheet_and_one_deferred_script(page: str) -> None:
    """bookext.bundle joins a page's local stylesheets, and its deferred scripts, into one file
    each: on a slow CPU every request costs the page time of its own."""
    text = raw_html(page)
    if "<head" not in text:
        pytest.skip(f"{page} is a redirect")
    head = text.split("</head>", 1)[0]
    sheets = re.findall(r'<link rel="stylesheet" href="([^"]+)"', head)
    assert len(re.findall(r'rel="stylesheet"', head)) == len(sheets) == 1, sheets
    assert f"{BUNDLE_DIR}/bundle-" in sheets[0]
    deferred = [
        src
        for src in re.findall(r'<script (?:defer|async)[^>]*\ssrc="([^"]+)"', text)
        if not src.endswith(("searchindex.js",)) and "mathjax/" not in src
    ]
    assert len(deferred) <= 1 and all(
        f"{BUNDLE_DIR}/bundle-" in s for s in deferred
    )


def test_every_url_in_the_stylesheet_bundles_exists() -> None:
    folder = SITE / BUNDLE_DIR
    bundles = list(folder.glob("bundle-*.css"))
    assert bundles, "no stylesheet bundle: bookext.bundle did not run"
    for bundle in bundles:
        text = bundle.read_text(encoding="utf-8")
        for url in re.findall(r'url\("([^"]+)"\)', text):
            if url.startswith("data:"):
                continue
            target = (folder / url.split("?")[0].split("#")[0]).resolve()
            assert target.is_file(), f"{bundle.name}: url({url}) points at nothing"


@pytest.mark.parametrize("page", PAGES)
def test_every_image_says_what_it_shows(page: str) -> None:
    """Every ``<img>`` has alt text, and not a file name: myst-nb's default alt for a plotted output
    is its path (``../_images/<sha>.png``), which a screen reader reads out. A plotted figure's alt
    comes from its cell's ``mystnb: image: alt:`` option."""
    images = re.findall(r"<img\b[^>]*>", raw_html(page))
    alts = [re.search(r'\salt="([^"]*)"', img) for img in images]
    missing = [img for img, alt in zip(images, alts) if alt is None]
    assert not missing, f"{page}: images without an alt attribute: {missing}"
    bad = [
        alt.group(1)
        for alt in alts
        if len(alt.group(1).split()) < 2
        or re.search(r"\.(png|svg|jpe?g|gif)\b|_images/", alt.group(1))
    ]
    assert not bad, f"{page}: alt text that is a file name or a single word: {bad}"


@pytest.mark.parametrize("page", PAGES)
def test_every_page_names_the_books_icon(page: str) -> None:
    """Without an icon of its own a page makes the browser ask for ``/favicon.ico`` (a 404)."""
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', raw_html(page))
    assert len(icons) == 1, f"{page} names {len(icons)} icons: {icons}"
    target = (SITE / page).parent / icons[0]
    assert target.is_file(), f"{page}: its icon {icons[0]} is not in the site"
    assert target.read_bytes() == (ROOT / CONFIG["html"]["favicon"]).read_bytes()
