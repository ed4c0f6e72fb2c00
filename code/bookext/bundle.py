"""One stylesheet and one deferred script a page, instead of a dozen of each.

A chapter page's head links 11 stylesheets (the theme's, Sphinx's, each extension's) and
13 deferred scripts. On a slow CPU every request costs the page's main thread time of its own
(issuing it, handling the response) whatever its size: ~25 requests held a first visit's
explorers back by ~0.5 s at DevTools' 4x CPU slowdown (``make bench``, ``explorer.ready_ms``).
After the build, :func:`bundle_pages` rewrites every page so that

* its local stylesheets come from one file, ``_static/attnbook/bundle-<hash>.css``: the same
  rules in the same order (``@import`` inlined, relative ``url()``\\s rewritten for the new
  place), so the cascade is unchanged, less the rules that no element of the site can match
  (``purge.py``: the theme ships all of Bootstrap; 550 KB of rules become ~160 KB);
* its local ``defer`` and ``async`` scripts come from one deferred file,
  ``_static/attnbook/bundle-<hash>.js``, which runs each of them, in their order, as a
  ``<script>`` element of its own with the original attributes: each keeps its own strict
  mode, global declarations, errors and ``document.currentScript`` (sphinx-design reads its
  settings from there). Deferred scripts run in document order once the page is parsed, and
  an async one may run at any time, so the bundle runs them when they ran before. MathJax
  (1.1 MB, cached on its own) and ``searchindex.js`` (it changes with every page) stay
  separate, as do scripts that run while the page is parsed;
* its images load when they come near the screen (``loading="lazy"``): the launch menu's
  logos and a chapter's figures further down are not fetched with the page.

Each bundled tag keeps the tags it replaced (``data-attnbook-bundle``), so that every build
re-bundles every page from the current files: a page Sphinx did not rewrite never points at a
bundle of stale files. Bundles are named by their content, so a reader's cache holds one copy
for all the pages that share it, and a build deletes the bundles no page names.
"""

from __future__ import annotations

import functools
import hashlib
import html
import json
import pathlib
import posixpath
import re
from urllib.parse import urlsplit

from .browser import site_pages
from .purge import purge, words

#: Where bundles are written, relative to the site root.
BUNDLE_DIR = "_static/attnbook"
#: Scripts left out of the script bundle (file names): big and cached apart, or changing often.
UNBUNDLED = ("tex-chtml.js", "searchindex.js")

_LINK = re.compile(r"<link\b[^>]*>")
_SCRIPT = re.compile(r"<script\b[^>]*>\s*</script>")
_ATTR = re.compile(r'([\w:-]+)(?:="([^"]*)")?')
_BUNDLED = re.compile(
    r'<(?:link|script)\b[^>]*\bdata-attnbook-bundle="([^"]*)"[^>]*>(?:</script>)?'
)
_IMG = re.compile(r"<img (?![^>]*\bloading=)")
_URL = re.compile(r"""url\(\s*(?:"([^"]*)"|'([^']*)'|([^)'"\s]+))\s*\)""")
_IMPORT = re.compile(r"""@import\s+(?:url\()?\s*["']?([^"')\s;]+)["']?\s*\)?\s*;""")
_CHARSET = re.compile(r'@charset\s+"[^"]*"\s*;')
_SOURCE_MAP = re.compile(r"/\*#\s*sourceMappingURL=[^*]*\*/")


def _attributes(tag: str) -> dict[str, str]:
    """The attributes of one start tag, as written (an attribute without a value maps to "")."""
    inner = re.match(r"<\w+([^>]*)>", tag).group(1).rstrip("/ ")
    return {
        name: html.unescape(value or "") for name, value in _ATTR.findall(inner)
    }


def _local(url: str) -> bool:
    parts = urlsplit(url)
    return not (parts.scheme or parts.netloc or url.startswith(("/", "#")))


def _site_path(page: str, url: str) -> str:
    """``url`` as written in ``page`` (both relative to the site root) -> a path from the root."""
    return posixpath.normpath(
        posixpath.join(posixpath.dirname(page), urlsplit(url).path)
    )


def _css(site: pathlib.Path, path: str, seen: tuple[str, ...] = ()) -> str:
    """A stylesheet's rules for a file in ``BUNDLE_DIR``: ``@import``\\s inlined, ``url()``\\s
    pointing where they pointed from ``path``."""
    if path in seen:
        raise ValueError(
            f"stylesheets import each other in a cycle: {' -> '.join(seen)}"
        )
    text = (site / path).read_text(encoding="utf-8")

    def inline(match: re.Match[str]) -> str:
        if not _local(match.group(1)):
            raise ValueError(
                f"{path} imports {match.group(1)}, which a bundle cannot hold"
            )
        return _css(site, _site_path(path, match.group(1)), (*seen, path))

    def move(match: re.Match[str]) -> str:
        url = next(g for g in match.groups() if g is not None)
        if not _local(url) or url.startswith("data:"):
            return match.group(0)
        target = _site_path(path, url)
        query = url[len(urlsplit(url).path) :]
        return f'url("{posixpath.relpath(target, BUNDLE_DIR)}{query}")'

    text = _CHARSET.sub("", _SOURCE_MAP.sub("", text))
    return _URL.sub(move, _IMPORT.sub(inline, text))


def _write(site: pathlib.Path, suffix: str, text: str) -> str:
    """Write ``text`` as a bundle named by its content; returns its path from the site root."""
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
    path = f"{BUNDLE_DIR}/bundle-{digest}{suffix}"
    target = site / path
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return path


@functools.lru_cache(maxsize=4)
def _purged(css: str, used: frozenset[str]) -> str:
    """``purge`` once a build for the stylesheets that every page shares, not once a page."""
    return purge(css, set(used))


def _drop(text: str, tag: str) -> str:
    """``text`` without the first ``tag`` and the line it leaves empty."""
    return re.sub(rf"[ \t]*{re.escape(tag)}[ \t]*\n?", "", text, count=1)


def _keep(tags: list[str]) -> str:
    return html.escape(json.dumps(tags), quote=True)


def _bundle_styles(
    site: pathlib.Path, page: str, head: str, used: set[str] | None
) -> str:
    sheets = [  # (tag, path from the site root)
        (tag, _site_path(page, a["href"]))
        for tag in _LINK.findall(head)
        if (a := _attributes(tag)).get("rel") == "stylesheet"
        and _local(a.get("href", ""))
        and a.get("media", "all") == "all"
    ]
    if len(sheets) < 2:
        return head
    tags = [tag for tag, _ in sheets]
    rules = [f"/* {path} */\n" + _css(site, path) for _, path in sheets]
    css = '@charset "UTF-8";\n' + "\n".join(rules)
    path = _write(
        site, ".css", css if used is None else _purged(css, frozenset(used))
    )
    href = posixpath.relpath(path, posixpath.dirname(page) or ".")
    bundled = f'<link rel="stylesheet" href="{href}" data-attnbook-bundle="{_keep(tags)}" />'
    head = head.replace(tags[0], bundled, 1)
    for tag in tags[1:]:
        head = _drop(head, tag)
    return head


_RUN = """\
// Scripts of this site's pages, joined into one file by code/bookext/bundle.py: each runs as
// a <script> element of its own, in the pages' order, with the attributes it had there.
(function (scripts) {
  scripts.forEach(function (entry) {
    var script = document.createElement("script");
    Object.keys(entry[1]).forEach(function (name) {
      script.setAttribute(name, entry[1][name]);
    });
    script.text = entry[2] + "\\n//# sourceURL=" + new URL(entry[0], document.baseURI).href;
    document.head.appendChild(script);
  });
})(%s);
"""


def _bundle_scripts(site: pathlib.Path, page: str, text: str) -> str:
    """Bundle the local ``defer``/``async`` scripts of the whole page (the theme puts two at the
    end of the body), and drop the head's preloads of the scripts bundled."""
    tags: list[str] = []
    entries = []  # [path from the site root, the other attributes, the source]
    for tag in _SCRIPT.findall(text):
        a = _attributes(tag)
        src = a.pop("src", "")
        if (
            src
            and _local(src)
            and ("defer" in a or "async" in a)
            and a.get("type", "text/javascript") == "text/javascript"
            and posixpath.basename(urlsplit(src).path) not in UNBUNDLED
        ):
            for timing in ("defer", "async"):
                a.pop(timing, None)
            path = _site_path(page, src)
            tags.append(tag)
            entries.append([path, a, (site / path).read_text(encoding="utf-8")])
    if len(tags) < 2:
        return text
    bundled_paths = {e[0] for e in entries}
    preloads = [
        tag
        for tag in _LINK.findall(text)
        if (a := _attributes(tag)).get("rel") == "preload"
        and a.get("as") == "script"
        and _local(a.get("href", ""))
        and _site_path(page, a["href"]) in bundled_paths
    ]
    # "</script" cannot end the bundle's own script early: it is a file, not inline.
    path = _write(site, ".js", _RUN % json.dumps(entries, indent=0))
    src = posixpath.relpath(path, posixpath.dirname(page) or ".")
    kept = _keep(tags + preloads)
    bundled = f'<script defer src="{src}" data-attnbook-bundle="{kept}"></script>'
    text = text.replace(tags[0], bundled, 1)
    for tag in tags[1:] + preloads:
        text = _drop(text, tag)
    return text


def unbundled(text: str) -> str:
    """A page as Sphinx wrote it, but for where tags stand: every bundle tag replaced by the
    tags it stands for (with the preloads of the scripts it holds)."""
    return _BUNDLED.sub(
        lambda m: "\n".join(json.loads(html.unescape(m.group(1)))), text
    )


def _lazy(text: str) -> str:
    return _IMG.sub('<img loading="lazy" ', text)


def bundle_page(
    site: pathlib.Path, page: str, text: str, used: set[str] | None = None
) -> str:
    """One page's HTML (``page``: its path from the site root) with its assets bundled; with
    ``used`` (the words of the whole site, :func:`site_words`), the stylesheet rules that no
    element can match are dropped (``purge.py``)."""
    text = unbundled(text)
    end = text.find("</head>")
    if end < 0:
        return text
    text = _bundle_styles(site, page, text[:end], used) + _lazy(text[end:])
    return _bundle_scripts(site, page, text)


_LOADED = re.compile(
    r'<script\b[^>]*\ssrc="([^"]+)"|<link\b[^>]*rel="modulepreload"[^>]*href="([^"]+)"'
)


def site_words(site: pathlib.Path, pages: dict[str, str]) -> set[str]:
    """The words of every page (as Sphinx wrote it) and of every local script a page loads:
    the class names and ids that may occur on the site (scripts add some)."""
    scripts = {
        _site_path(page, url)
        for page, text in pages.items()
        for match in _LOADED.finditer(text)
        if _local(url := match.group(1) or match.group(2))
    }
    files = [site / path for path in sorted(scripts) if (site / path).is_file()]
    return words([*pages.values(), *(f.read_text(encoding="utf-8") for f in files)])


def bundle_pages(site: pathlib.Path) -> int:
    """Bundle the assets of every page under ``site``; returns how many pages changed."""
    pages = {
        page: (site / page).read_text(encoding="utf-8") for page in site_pages(site)
    }
    used = site_words(
        site, {page: _lazy(unbundled(text)) for page, text in pages.items()}
    )
    changed = 0
    for page, text in pages.items():
        new = bundle_page(site, page, text, used)  # it unbundles the page itself
        pages[page] = new
        if new != text:
            (site / page).write_text(new, encoding="utf-8")
            changed += 1
    # every page was re-bundled: a bundle none of them names is left over from an earlier build
    named = "".join(pages.values())
    for old in (site / BUNDLE_DIR).glob("bundle-*"):
        if old.name not in named:
            old.unlink()
    return changed
