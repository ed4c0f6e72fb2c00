"""bookext.bundle: a page's stylesheets and deferred scripts joined, same rules, same scripts."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

from bookext import purge
from bookext.bundle import BUNDLE_DIR, bundle_page, bundle_pages, unbundled

PAGE = """<!DOCTYPE html>
<html><head>
  <link href="../_static/styles/theme.css?digest=1" rel="stylesheet" />
  <link rel="preload" as="script" href="../_static/scripts/late.js?digest=1" />
  <link rel="stylesheet" type="text/css" href="../_static/pygments.css?v=2" />
  <link rel="stylesheet" href="https://example.org/remote.css" />
  <script src="../_static/options.js"></script>
  <script defer="defer" src="../_static/strict.js?v=3"></script>
  <script>let hint = 'x';</script>
  <script data-prefix="tab-" defer="defer" src="../_static/tabs.js"></script>
  <script defer="defer" src="../_static/mathjax/tex-chtml.js"></script>
  <script type="application/json">{"a": 1}</script>
</head><body><p>text</p>
  <script defer src="../_static/scripts/late.js?digest=1"></script>
</body></html>
"""

FILES = {
    "_static/basic.css": "div.body { background: url(file.png); }\n",
    "_static/styles/theme.css": '@charset "UTF-8";\n@import "../basic.css";\n'
    "h1 { color: red }\n/*# sourceMappingURL=theme.css.map*/\n",
    "_static/pygments.css": ".hll { background: url('data:image/png;base64,AAAA') }\n"
    "@font-face { src: url(fonts/x.woff?v=1) }\n",
    "_static/options.js": "var OPTIONS = {};\n",
    "_static/strict.js": '"use strict";\nvar strictRan = true;\n',
    "_static/tabs.js": "var prefix = document.currentScript.dataset.prefix;\n",
    "_static/scripts/late.js": "var late = 1;\n",
    "_static/mathjax/tex-chtml.js": "var MathJax = {};\n",
}


@pytest.fixture
def site(tmp_path: pathlib.Path) -> pathlib.Path:
    for name, text in FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    (tmp_path / "chapters").mkdir()
    (tmp_path / "chapters" / "a.html").write_text(PAGE, encoding="utf-8")
    return tmp_path


def bundles(site: pathlib.Path, suffix: str) -> list[pathlib.Path]:
    return sorted((site / BUNDLE_DIR).glob(f"bundle-*{suffix}"))


def test_one_stylesheet_with_the_same_rules_in_the_same_order(
    site: pathlib.Path,
) -> None:
    page = bundle_page(site, "chapters/a.html", PAGE)
    links = re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)
    [css] = bundles(site, ".css")
    assert links == [
        f"../{BUNDLE_DIR}/{css.name}",
        "https://example.org/remote.css",
    ]
    text = css.read_text(encoding="utf-8")
    assert text.startswith('@charset "UTF-8";')
    assert text.count("@charset") == 1 and "sourceMappingURL" not in text
    assert "@import" not in text, "the import is inlined"
    # basic.css (imported first), then theme.css's own rules, then pygments.css
    order = [text.index(s) for s in ("div.body", "h1 {", ".hll")]
    assert order == sorted(order)
    # url()s point where they pointed, from the bundle's folder; data: and queries kept
    assert 'url("../file.png")' in text
    assert 'url("../fonts/x.woff?v=1")' in text
    assert "url('data:image/png;base64,AAAA')" in text


def test_one_deferred_script_runs_each_as_it_was(site: pathlib.Path) -> None:
    page = bundle_page(site, "chapters/a.html", PAGE)
    srcs = re.findall(r'<script[^>]*\ssrc="([^"]+)"', page)
    [js] = bundles(site, ".js")
    assert srcs == [
        "../_static/options.js",  # runs while the page is parsed: not bundled
        f"../{BUNDLE_DIR}/{js.name}",
        "../_static/mathjax/tex-chtml.js",  # cached on its own
    ]
    assert re.search(rf'<script defer src="[^"]*{js.name}"', page)
    assert 'rel="preload"' not in page, "the preload of a bundled script is dropped"
    assert "<script>let hint = 'x';</script>" in page
    entries = json.loads(js.read_text(encoding="utf-8").split("})(", 1)[1][:-3])
    assert [(path, attrs) for path, attrs, _ in entries] == [
        ("_static/strict.js", {}),
        ("_static/tabs.js", {"data-prefix": "tab-"}),
        ("_static/scripts/late.js", {}),
    ]
    assert [text for _, _, text in entries] == [
        FILES["_static/strict.js"],
        FILES["_static/tabs.js"],
        FILES["_static/scripts/late.js"],
    ]


def test_bundling_is_undone_and_redone_from_the_current_files(
    site: pathlib.Path,
) -> None:
    once = bundle_page(site, "chapters/a.html", PAGE)
    assert bundle_page(site, "chapters/a.html", once) == once
    restored = unbundled(once)
    for tag in re.findall(r"<(?:link|script)\b[^>]*>", PAGE):
        if 'rel="preload"' not in tag:
            assert tag in restored, tag
    # a file changes while the page does not: the next build bundles the new text
    (site / "_static/pygments.css").write_text(".hll { color: blue }\n")
    again = bundle_page(site, "chapters/a.html", once)
    assert again != once
    new = re.search(r'href="\.\./_static/attnbook/(bundle-[^"]+\.css)"', again)
    assert ".hll { color: blue }" in (site / BUNDLE_DIR / new.group(1)).read_text()


def test_a_whole_site_is_bundled_once(site: pathlib.Path) -> None:
    assert bundle_pages(site) == 1
    assert bundle_pages(site) == 0  # nothing left to change


def test_a_stylesheet_that_imports_from_elsewhere_is_refused(
    site: pathlib.Path,
) -> None:
    (site / "_static/pygments.css").write_text(
        '@import "https://cdn.example/x.css";\n'
    )
    with pytest.raises(ValueError, match="cannot hold"):
        bundle_page(site, "chapters/a.html", PAGE)


def test_rules_no_element_can_match_are_dropped() -> None:
    css = """@charset "UTF-8";
/*! licence notice */
/* a comment */
.used { color: red }
.unused { color: blue }
.unused, .used span { margin: 0 }
div.used > #main:hover { top: 0 }
#gone { top: 0 }
.used:not(.unused) { left: 0 }
:is(.unused, .other) p { right: 0 }
[data-theme=dark] .used, [title="x.unused"] { bottom: 0 }
.bs-tooltip-top .tooltip-arrow { width: 1px }
.sm\\:unused { top: 0 }
@media (min-width: 960px) { .unused { top: 0 } }
@media print { .used { top: 1px } .unused { top: 2px } }
@font-face { font-family: x; src: url(x.woff) }
@keyframes spin { 0% { opacity: 0 } 100% { opacity: 1 } }
"""
    used = purge.words(
        [
            '<div class="used" id="main"><span>x</span></div>',
            "el.classList.add('tooltip-arrow')",
        ]
    )
    out = purge.purge(css, used)
    kept = [
        "/*! licence notice */",
        ".used { color: red }",
        ".unused, .used span",
        "div.used > #main:hover",
        ".used:not(.unused)",  # what :not() names is not required
        ":is(.unused, .other) p",  # unsure: kept
        "[data-theme=dark] .used",
        ".bs-tooltip-top .tooltip-arrow",  # a name scripts build at run time
        ".sm\\:unused",  # escaped: not guessed at
        "@media print { .used { top: 1px } }",
        "@font-face",
        "@keyframes spin",
    ]
    for text in kept:
        assert text.replace(" ", "") in out.replace(" ", "").replace("\n", ""), text
    for text in (
        ".unused { color: blue }",
        "#gone",
        "min-width: 960px",
        "top: 2px",
        "a comment",
    ):
        assert text not in out, text
    assert out.startswith('@charset "UTF-8";')


def test_a_site_bundle_holds_only_rules_its_pages_can_use(
    site: pathlib.Path,
) -> None:
    (site / "_static/pygments.css").write_text(
        ".hll { color: red }\n.p { color: blue }\n"
    )
    page = PAGE.replace("<p>text</p>", '<p class="p">text</p>')
    (site / "chapters" / "a.html").write_text(page, encoding="utf-8")
    bundle_pages(site)
    [css] = bundles(site, ".css")
    text = css.read_text(encoding="utf-8")
    assert ".p {" in text and ".hll" not in text and "h1 {" in text


def test_images_load_when_they_come_near_the_screen(site: pathlib.Path) -> None:
    page = PAGE.replace(
        "<p>text</p>",
        '<img alt="a" src="a.png"><img loading="eager" alt="b" src="b.png">',
    )
    out = bundle_page(site, "chapters/a.html", page)
    assert '<img loading="lazy" alt="a" src="a.png">' in out
    assert (
        '<img loading="eager" alt="b" src="b.png">' in out
    )  # a choice made upstream
    assert bundle_page(site, "chapters/a.html", out) == out
