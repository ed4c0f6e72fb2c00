"""The theme's icons without Font Awesome's 1.5 MB script and full fonts.

pydata-sphinx-theme loads ``fontawesome.js`` (Font Awesome Free 6, 543 KB gzipped)
on every page to turn ``<i class="fa-solid fa-bars">`` into SVG, and its stylesheet
declares the icon fonts, which the browser then fetches too (fa-solid-900.woff2
alone is 153 KB) for the icons drawn by CSS (admonition titles, breadcrumbs,
the GitHub link). A page shows about twenty icons. The layout override in
``templates/`` drops the script -- the theme's stylesheet already draws every
``fa-*`` class with the font -- and :func:`write_icon_fonts` writes, after the
build, ``_static/attnbook/icons.css``: the theme's own ``@font-face`` rules
holding copies of its fonts cut down (``fontTools``, which matplotlib installs)
to the glyphs the site uses, 1-4 KB each, inline (``data:`` URLs: no request of
their own, and no second layout when they arrive). Later ``@font-face`` rules
win, and this stylesheet comes after the theme's, so the full fonts are never
requested.
"""

from __future__ import annotations

import base64
import pathlib
import re
import tempfile
from collections.abc import Iterable

from .bundle import unbundled

#: Classes that select a Font Awesome family; elements with one show an icon.
FAMILIES = {"fa", "fas", "far", "fab", "fa-solid", "fa-regular", "fa-brands"}
#: Icons the theme's JavaScript creates (the announcement banner's close button).
SCRIPTED = {"fa-xmark"}
_CLASS_RULE = re.compile(
    r'((?:\.fa-[\w-]+:{1,2}before,?)+)\{content:"\\([0-9a-f]{4})"\}'
)
_ESCAPED = re.compile(r"\\([ef][0-9a-f]{3})\b", re.IGNORECASE)
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")
_FONT_FACE = re.compile(r"@font-face\{[^}]*webfonts/(fa-[\w-]+)\.woff2[^}]*\}")
_SRC = re.compile(r"src:[^;}]*")
_CLASS_ATTR = re.compile(r'class="([^"]*)"')
_LINK = re.compile(r"<link\b[^>]*>")
_HREF = re.compile(r'\bhref="([^"?#]+)')


def theme_css() -> pathlib.Path:
    """pydata-sphinx-theme's stylesheet, which holds Font Awesome's CSS."""
    import pydata_sphinx_theme

    static = (
        pathlib.Path(pydata_sphinx_theme.__file__).parent
        / "theme/pydata_sphinx_theme/static"
    )
    path = static / "styles/pydata-sphinx-theme.css"
    if not path.is_file():
        raise FileNotFoundError(
            f"pydata-sphinx-theme's stylesheet not found at {path}"
        )
    return path


def class_codepoints(css: str) -> dict[str, int]:
    """``fa-name -> codepoint`` from Font Awesome's ``.fa-name:before{content:"\\f002"}`` rules."""
    table = {}
    for rule in _CLASS_RULE.finditer(css):
        for name in re.findall(r"\.(fa-[\w-]+):", rule.group(1)):
            table[name] = int(rule.group(2), 16)
    return table


def css_codepoints(css: str) -> set[int]:
    """Private-use characters a stylesheet draws outside Font Awesome's class table (written as
    ``"\\f107"`` or as the character itself)."""
    rest = _CLASS_RULE.sub("", css)
    found = {int(c, 16) for c in _ESCAPED.findall(rest)}
    return found | {ord(c) for c in _PRIVATE_USE.findall(rest)}


def used_codepoints(
    pages: Iterable[str], stylesheets: Iterable[str], table: dict[str, int]
) -> tuple[set[int], list[str]]:
    """The codepoints the pages' icon classes and their stylesheets ask for, and the class lists of
    icon elements (a family class) that name no icon the table has: they would show nothing."""
    used = {table[name] for name in SCRIPTED}
    missing: list[str] = []
    for page in pages:
        for classes in _CLASS_ATTR.findall(page):
            tokens = classes.split()
            if not FAMILIES.intersection(tokens):
                continue
            icons = {table[t] for t in tokens if t in table}
            used |= icons
            if not icons:
                missing.append(classes)
    for css in stylesheets:
        used |= css_codepoints(css)
    return used, missing


def cut_font(
    source: pathlib.Path, codepoints: set[int], target: pathlib.Path
) -> None:
    """``source`` (a TrueType file) with only the glyphs of ``codepoints``, as WOFF."""
    from fontTools import subset

    options = subset.Options()
    options.flavor = "woff"  # zlib; WOFF2 would need brotli
    options.layout_features = []
    options.notdef_outline = True
    font = subset.load_font(str(source), options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=sorted(codepoints))
    subsetter.subset(font)
    subset.save_font(font, str(target), options)


def write_icon_fonts(site: pathlib.Path, target: pathlib.Path) -> list[str]:
    """Cut the theme's icon fonts to what the HTML pages of ``site`` use and write ``target``
    (a stylesheet with their ``@font-face`` rules); return the class lists of icons not found."""
    css_path = theme_css()
    css = css_path.read_text(encoding="utf-8")
    # as Sphinx wrote them: on a rebuild, pages Sphinx left alone still link the last build's
    # bundle (bundle.py runs after this), whose purged rules are not what the theme links
    files = sorted(site.rglob("*.html"))
    pages = [unbundled(p.read_text(encoding="utf-8")) for p in files]
    linked = {
        (page.parent / href).resolve()
        for page, text in zip(files, pages)
        for link in _LINK.findall(text)
        if 'rel="stylesheet"' in link
        for href in _HREF.findall(link)
    }
    stylesheets = [
        p.read_text(encoding="utf-8")
        for p in linked
        if p.is_file() and p != target.resolve()
    ]
    used, missing = used_codepoints(pages, stylesheets, class_codepoints(css))
    glyphs = f"/* glyphs: {' '.join(f'{c:x}' for c in sorted(used))} */"
    # a rebuild that changed no icon keeps the fonts it cut before (saves ~1 s)
    if target.is_file() and glyphs in target.read_text(encoding="utf-8"):
        return missing
    webfonts = css_path.parent.parent / "vendor/fontawesome/webfonts"
    licence = (
        css_path.parent.parent / "scripts/fontawesome.js.LICENSE.txt"
    )  # version, licences
    rules = [
        licence.read_text(encoding="utf-8").strip(),
        "/* The theme's Font Awesome fonts cut to the glyphs this site uses (code/bookext/icons.py). */",
        glyphs,
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for face in _FONT_FACE.finditer(css):
            woff = pathlib.Path(tmp) / f"{face.group(1)}.woff"
            cut_font(webfonts / f"{face.group(1)}.ttf", used, woff)
            data = base64.b64encode(woff.read_bytes()).decode("ascii")
            src = f'src:url(data:font/woff;base64,{data}) format("woff")'
            rules.append(_SRC.sub(src, face.group(0)))
    if len(rules) == 3:
        raise ValueError(f"no Font Awesome @font-face rule found in {css_path}")
    target.write_text("\n".join(rules) + "\n", encoding="utf-8")
    return missing
