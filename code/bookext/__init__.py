"""Sphinx glue for the book: serve every script a page needs from the site itself, and no more.

myst-nb embeds the state of the widgets a notebook created and, on pages that
have any, loads require.js and ``@jupyter-widgets/html-manager`` -- by default
from public CDNs, so offline nothing renders; Sphinx loads MathJax from a CDN
too. This extension copies local files into ``_static/attnbook/``:

* ``attnbook-embed.js`` (``static/``, ours, ~5 KB): draws anywidget figures --
  the book's explorers -- straight from the embedded widget state. Pages whose
  displayed widgets are all anywidget models load only this file
  (:func:`_light_widget_pages`);
* ``explorer.js``: the explorer's front-end, written at build time from the
  installed ``attnbook`` (``attnbook.viz.explorer._bundle``). On those pages the
  explorers' state points at this one file instead of carrying a copy of it per
  figure, so the browser fetches and caches it once for the whole site; the
  contract version in the state and in the file must agree (the explorer says so
  in the console otherwise: re-execute the chapters);
* for any other page with widgets, the standard manager: ``require.js``
  (RequireJS 2.3.8, MIT) and ``embed-amd.js`` (``@jupyter-widgets/html-manager``
  1.0.15, BSD-3-Clause), vendored from npm (see ``vendor/README.md``), with
  ``anywidget.js``, the AMD front-end that ships inside the installed ``anywidget``
  Python package (so its version always matches the kernel's), and
  ``attnbook-widgets.js`` (``static/``), which tells RequireJS where ``anywidget``
  and html-manager's fonts live;
* ``onnxruntime-web`` (vendored, MIT) and ``models/``: the models the chapters exported
  while they executed (``attnbook.export``, into ``_build/browser_models/``, which the
  execution cache does not replace); a page whose input box needs a missing model fails
  the build. The browser fetches both only when a reader first uses an input box;
* MathJax 3.2.2 (Apache-2.0) as ``mathjax/tex-chtml.js``: HTML+CSS output with
  web fonts (loaded per font used) instead of SVG paths in the script, and the
  TeX extensions it autoloads on first use (``\\boldsymbol`` etc.) next to it.

The book's own icon (``favicon.svg``, named in ``_config.yml``) is on every page, the root
redirect included (:func:`_icon_on_redirect`).

The theme's icons: ``templates/layout.html`` drops pydata-sphinx-theme's
``fontawesome.js`` (543 KB gzipped, on every page); the theme's stylesheet draws
the icons with Font Awesome's fonts, which ``icons.py`` cuts to the glyphs the
site uses (inline in ``icons.css``, a few KB instead of 270 KB).

Loading order: the head's theme and extension scripts are deferred (``DEFERRED``; the theme's
search scripts are dropped where nothing uses them, through ``templates/layout.html``), and
after the build ``bundle.py`` joins each page's stylesheets into one file and its deferred
scripts into another (every request costs a slow CPU time of its own). Explorer pages preload
``explorer.js``, and ``attnbook-embed.js`` draws each explorer as soon as the parser has
passed it (a one-line script after each view calls it); MathJax typesets after the explorers
are on screen. A first visit on a slow CPU then shows the explorers before the rest of the
chapter is parsed and laid out. Until the page's ``load`` event, the browser also skips
styling, laying out and painting the sections that are off screen (``content-visibility:
auto`` in ``templates/layout.html``; not on a visit to an anchor), which the explorers would
otherwise force for the whole chapter above them.

Code blocks fit the text column: each says how long its longest line is
(:func:`_code_columns`), and ``templates/layout.html`` gives a block that would scroll
sideways a smaller font (down to 12 px instead of 14) so that its lines fit.

Pages without widgets load none of the widget scripts; pages without math load
no MathJax (Sphinx's own rule). The live Jupyter path (anywidget in a kernel)
never sees any of this. Enable with ``sphinx: local_extensions: {bookext: code/}``
in ``_config.yml`` (this folder is the book's build glue, not part of the
installed ``attnbook`` package).
"""

from __future__ import annotations

import functools
import html
import json
import pathlib
import re
import shutil
from typing import Any

from markupsafe import Markup
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.util import logging

from .bundle import bundle_pages
from .icons import write_icon_fonts
from .notebooks import wait_for_chapters

logger = logging.getLogger(__name__)

_HERE = pathlib.Path(__file__).parent
STATIC_DIR = "attnbook"
#: The standard widget manager, in load order (pages with a widget that is not an anywidget model).
SCRIPTS = ("require.js", "attnbook-widgets.js", "embed-amd.js")
#: The book's own loader (pages whose widgets are all anywidget models: the explorers).
LIGHT_SCRIPT = "attnbook-embed.js"
MATHJAX = "mathjax/tex-chtml.js"
#: Written after each widget view on the pages ``attnbook-embed.js`` draws.
DRAW_VIEW = "<script>attnbookEmbed.draw(document.currentScript)</script>"
#: The explorer's front-end, served once for the whole site, and the id anywidget gives its models.
EXPLORER = "explorer.js"
EXPLORER_ID = "attnbook.viz.explorer.HeatmapExplorer"
#: The chapters' exported models (attnbook.export), served next to onnxruntime-web/ (vendored).
MODELS = "models"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
#: The theme's icon fonts cut to the glyphs the site uses, written after the build (``icons.py``).
ICONS = "icons.css"
_VIEW = re.compile(
    r'<script type="application/vnd\.jupyter\.widget-view\+json">(.*?)</script>',
    re.DOTALL,
)
#: A code block as Sphinx writes it (cells' inputs and outputs, literalincludes), and a tag in it.
_CODE_BLOCK = re.compile(
    r'<div class="highlight"><pre>(.*?)</pre></div>', re.DOTALL
)
_TAG = re.compile(r"<[^>]+>")


def _anywidget_frontend() -> pathlib.Path:
    import anywidget

    path = pathlib.Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not path.is_file():
        raise FileNotFoundError(
            f"anywidget's AMD front-end not found at {path}; reinstall anywidget"
        )
    return path


def _use_local_scripts(app: Sphinx, config: Config) -> None:
    config.nb_ipywidgets_js = {f"{STATIC_DIR}/{name}": {} for name in SCRIPTS}
    config.mathjax_path = f"{STATIC_DIR}/{MATHJAX}"


_FONTAWESOME = re.compile(r"\s*<script[^>]*scripts/fontawesome\.js[^>]*></script>")


def _without_fontawesome(html: str) -> Markup:
    """Jinja filter for ``templates/layout.html``: the theme's head without ``fontawesome.js``."""
    kept, dropped = _FONTAWESOME.subn("", str(html))
    if dropped != 1:
        raise RuntimeError(
            f"expected the theme's head to load fontawesome.js once, found {dropped}: "
            "update code/bookext/templates/layout.html for this pydata-sphinx-theme"
        )
    return Markup(kept)


#: The theme's search scripts, which it loads in every page's head (``extrahead``).
_SEARCH_SCRIPTS = re.compile(
    r'<script src="([^"]*(?:searchtools|language_data|searchindex)\.js)"></script>'
)


def _search_scripts(html: str, as_you_type: Any) -> Markup:
    """Jinja filter for ``templates/layout.html``: the theme's search scripts, deferred, or gone.

    pydata-sphinx-theme loads them in every page's head for its search-as-you-type box. With
    that option off (the theme's default and the book's), its search box is a form that opens
    the search page, which loads its own copies, so other pages never use them: they are
    dropped (``searchindex.js`` alone is ~100 KB). With it on, they are deferred: nothing needs
    them before the page is parsed, and deferred scripts keep their order, so
    ``searchindex.js`` still finds ``Search``.
    """
    replacement = (
        r'<script defer src="\1"></script>' if _truthy(as_you_type) else ""
    )
    kept, n = _SEARCH_SCRIPTS.subn(replacement, str(html))
    if n not in (0, 3):  # 0: the search page, which loads its own
        raise RuntimeError(
            f"expected the theme's head to load 3 search scripts, found {n}: "
            "update code/bookext/templates/layout.html for this pydata-sphinx-theme"
        )
    return Markup(kept)


def _truthy(value: Any) -> bool:
    """A theme option as Sphinx hands it over: a bool, or the string of one from theme.conf."""
    return str(value).strip().lower() in ("true", "1", "yes", "on")


#: Head scripts of Sphinx and its extensions that only act once the page is parsed (each waits
#: for DOMContentLoaded), so ``defer`` keeps them working and stops them holding up the parser.
DEFERRED = (
    "doctools.js",
    "sphinx_highlight.js",
    "clipboard.min.js",
    "copybutton.js",
    "scripts/sphinx-book-theme.js",
    "togglebutton.js",
    "design-tabs.js",
)


def _defer_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Load the scripts in ``DEFERRED`` with ``defer`` (their order among themselves is kept)."""
    if pagename == "search":
        return
    scripts = context.get("script_files", [])
    for i, script in enumerate(scripts):
        filename = str(getattr(script, "filename", "") or "")
        attributes = getattr(script, "attributes", {})
        if (
            filename.removeprefix("_static/") in DEFERRED
            and "async" not in attributes
        ):
            # a new entry: the builder's own objects are shared by every page
            scripts[i] = type(script)(
                script.filename,
                priority=script.priority,
                **attributes,
                defer="defer",
            )


def _icons_instead_of_fontawesome(app: Sphinx, config: Config) -> None:
    config.templates_path = [*config.templates_path, str(_HERE / "templates")]
    app.add_css_file(f"{STATIC_DIR}/{ICONS}")


def _register_filter(app: Sphinx) -> None:
    if app.builder is not None and hasattr(app.builder, "templates"):
        app.builder.templates.environment.filters[
            "attnbook_without_fontawesome"
        ] = _without_fontawesome
        app.builder.templates.environment.filters["attnbook_search_scripts"] = (
            _search_scripts
        )


def _write_icons(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder is None or app.builder.format != "html":
        return
    site = pathlib.Path(app.outdir)
    (site / "_static" / STATIC_DIR).mkdir(parents=True, exist_ok=True)
    missing = write_icon_fonts(site, site / "_static" / STATIC_DIR / ICONS)
    for classes in missing:
        logger.warning(
            f'no Font Awesome icon for class="{classes}": it would show nothing'
        )


def _icon_on_redirect(app: Sphinx, exception: Exception | None) -> None:
    """The site's root ``index.html`` (sphinx-external-toc's one-line redirect to the book's first
    page) names the book's icon too: a browser opening it otherwise asks for ``/favicon.ico``,
    which the site does not have (a 404 in the console)."""
    if exception is not None or app.builder is None or app.builder.format != "html":
        return
    icon = app.config.html_favicon
    index = pathlib.Path(app.outdir) / "index.html"
    if not icon or not index.is_file():
        return
    text = index.read_text(encoding="utf-8")
    if not text.startswith('<meta http-equiv="Refresh"'):
        return  # the book's own page, or the icon is there already
    href = icon if "://" in icon else f"_static/{pathlib.PurePath(icon).name}"
    link = f'<link rel="icon" href="{href}" />\n'
    index.write_text(link + text, encoding="utf-8")


def _bundle_assets(app: Sphinx, exception: Exception | None) -> None:
    """After the build (and after ``_write_icons``): one stylesheet and one deferred script a
    page (``bundle.py``)."""
    if exception is not None or app.builder is None or app.builder.format != "html":
        return
    bundle_pages(pathlib.Path(app.outdir))


def _copy_scripts(app: Sphinx) -> None:
    if app.builder is None or app.builder.format != "html":
        return
    target = pathlib.Path(app.outdir) / "_static" / STATIC_DIR
    target.mkdir(parents=True, exist_ok=True)
    for folder in (_HERE / "vendor", _HERE / "static"):
        shutil.copytree(
            folder, target, dirs_exist_ok=True
        )  # scripts, fonts, licence files
    shutil.copyfile(_anywidget_frontend(), target / "anywidget.js")
    from attnbook.viz.explorer import _bundle

    (target / EXPLORER).write_text(_bundle(), encoding="utf-8")


def _copy_models(app: Sphinx, env: Any) -> None:
    """After reading: the models the chapters exported when they executed (under ``make book``
    the last chapters are still running when the build starts; see notebooks.build)."""
    if app.builder is None or app.builder.format != "html":
        return
    from attnbook.telemetry import model_dir

    # none without _config.yml (not a book)
    try:
        exported = model_dir(app.srcdir)
    except FileNotFoundError:
        return
    if exported.is_dir():
        target = pathlib.Path(app.outdir) / "_static" / STATIC_DIR / MODELS
        shutil.copytree(exported, target, dirs_exist_ok=True)


def _check_models(state: dict[str, Any], pagename: str, outdir: str) -> None:
    """Fail the build if an explorer's input box needs an exported model the site lacks."""
    for model in state.get("state", {}).values():
        name = model.get("state", {}).get("input", {}).get("model")
        if not name:
            continue
        meta = (
            pathlib.Path(outdir)
            / "_static"
            / STATIC_DIR
            / MODELS
            / name
            / "meta.json"
        )
        if not meta.is_file():
            raise FileNotFoundError(
                f"{pagename}: its input box runs the exported model {name!r}, but {meta} is "
                "missing: the chapter's export (attnbook.export) wrote nowhere the build reads "
                "(_build/browser_models/); re-execute the chapter (clear its cache entry)"
            )


def needs_full_manager(state: dict[str, Any], body: str) -> bool:
    """Whether a page needs ``@jupyter-widgets/html-manager``: some widget it displays is not an
    anywidget model with its front-end in the state (``attnbook-embed.js`` draws only those)."""
    models = state.get("state", {})
    for match in _VIEW.finditer(body):
        model = models.get(json.loads(match.group(1)).get("model_id"), {})
        if model.get("model_module") != "anywidget" or not isinstance(
            model.get("state", {}).get("_esm"), str
        ):
            return True
    return False


def _light_widget_pages(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """On a page whose widgets are all explorers, swap the widget manager for ``attnbook-embed.js``.

    Runs after myst-nb added the manager's scripts (priority 500) to the builder's list
    for this page (``context["script_files"]``, restored by Sphinx after the page).
    """
    scripts = context.get("script_files", [])
    state_script = next(
        (
            s
            for s in scripts
            if getattr(s, "attributes", {}).get("type") == WIDGET_STATE
        ),
        None,
    )
    if state_script is None:
        return
    state = json.loads(state_script.attributes["body"])
    _check_models(state, pagename, app.outdir)
    if needs_full_manager(state, context.get("body", "")):
        return
    explorer = context["pathto"](f"_static/{STATIC_DIR}/{EXPLORER}", 1)
    for model in state["state"].values():
        if model.get("state", {}).get("_anywidget_id") == EXPLORER_ID:
            model["state"]["_esm"] = explorer  # a URL: attnbook-embed.js imports it
    state_script.attributes["body"] = json.dumps(state).replace("</", "<\\/")
    # each view is drawn as soon as the parser has passed it (attnbook-embed.js)
    context["body"] = _VIEW.sub(
        lambda m: m.group(0) + DRAW_VIEW, context.get("body", "")
    )
    # fetched while the head's stylesheets load, not once attnbook-embed.js asks for it
    context["metatags"] = context.get("metatags", "") + (
        f'\n<link rel="modulepreload" href="{explorer}" />'
    )
    manager = {f"{STATIC_DIR}/{name}" for name in SCRIPTS}

    def name(
        script: Any,
    ) -> str:  # myst-nb's scripts come back as "_static/attnbook/..."
        return str(getattr(script, "filename", script) or "").removeprefix(
            "_static/"
        )

    at = next(i for i, s in enumerate(scripts) if name(s) in manager)
    scripts[:] = [s for s in scripts if name(s) not in manager]
    scripts.insert(
        at, type(state_script)(f"_static/{STATIC_DIR}/{LIGHT_SCRIPT}")
    )  # a sphinx _JavaScript


def _drop_duplicate_scripts(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Keep the first of identical ``<script>`` entries.

    sphinx-thebe 0.3 registers its inline ``const THEBE_JS_URL = ...`` once per
    read phase, and myst-nb's execution table triggers a second one, so the page
    would declare the constant twice (a console error that breaks Thebe).
    """
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # inline scripts come back with filename None or "" depending on the read phase
        key = (
            str(getattr(script, "filename", script) or ""),
            str(getattr(script, "attributes", {}).get("body", "")),
        )
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = (
        unique  # in place: it is the builder's list, which others append to
    )


def _longest_line(pre: str) -> int:
    """Characters in the longest line of a code block, from the HTML inside its ``<pre>``."""
    text = html.unescape(_TAG.sub("", pre))
    return max(len(line) for line in text.split("\n"))


def _code_columns(
    app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any
) -> None:
    """Each code block says how long its longest line is (``--cols``): the stylesheet in
    ``templates/layout.html`` makes the font of a block that would scroll sideways smaller, so
    that its lines fit the column."""
    if "body" in context:
        context["body"] = _CODE_BLOCK.sub(
            lambda m: (
                f'<div class="highlight" style="--cols: {_longest_line(m[1])}">'
                f"<pre>{m[1]}</pre></div>"
            ),
            context["body"],
        )


def _cache_bibtex_plugin_lookups() -> None:
    """Let pybtex scan the installed packages' entry points once per build, not per citation.

    pybtex looks each plugin up by scanning every installed distribution (~20 ms here), and
    sphinxcontrib-bibtex looks plugins up again for every ``{footcite}`` it formats: ~360
    lookups, a third of a cold render. What is installed cannot change during a build.
    """
    import pybtex.plugin

    if not hasattr(pybtex.plugin.entry_points, "cache_info"):
        pybtex.plugin.entry_points = functools.cache(pybtex.plugin.entry_points)


def setup(app: Sphinx) -> dict[str, Any]:
    _cache_bibtex_plugin_lookups()
    app.connect(
        "env-before-read-docs", wait_for_chapters
    )  # make book: see notebooks.build
    app.connect("config-inited", _use_local_scripts, priority=900)
    app.connect("builder-inited", _copy_scripts)
    app.connect("env-updated", _copy_models)
    app.connect("config-inited", _icons_instead_of_fontawesome)
    app.connect("builder-inited", _register_filter)
    app.connect("build-finished", _write_icons)
    # after sphinx-external-toc writes the redirect (500)
    app.connect("build-finished", _icon_on_redirect, priority=600)
    app.connect(
        "build-finished", _bundle_assets, priority=900
    )  # after _write_icons
    # early: Sphinx stops this event at the first handler that returns a template name
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    app.connect(
        "html-page-context", _light_widget_pages, priority=600
    )  # after myst-nb's (500)
    app.connect("html-page-context", _defer_scripts, priority=610)
    app.connect("html-page-context", _code_columns)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
