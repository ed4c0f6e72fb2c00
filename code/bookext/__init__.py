"""Sphinx glue for the book: serve every script a page needs from the site itself.

myst-nb embeds the state of the widgets a notebook created and, on pages that
have any, loads require.js and ``@jupyter-widgets/html-manager`` -- by default
from public CDNs, so offline nothing renders; Sphinx loads MathJax from a CDN
too. This extension copies local copies into ``_static/attnbook/`` and points
myst-nb's ``nb_ipywidgets_js`` and Sphinx's ``mathjax_path`` at them:

* ``require.js`` (RequireJS 2.3.8, MIT) and ``embed-amd.js``
  (``@jupyter-widgets/html-manager`` 1.0.15, BSD-3-Clause), vendored from npm
  (see ``vendor/README.md``);
* ``anywidget.js``, the AMD front-end that ships inside the installed
  ``anywidget`` Python package, so its version always matches the kernel's;
* ``attnbook-widgets.js``, which tells RequireJS where ``anywidget`` and
  html-manager's fonts live;
* ``tex-svg-full.js`` (MathJax 3.2.2, Apache-2.0), all TeX extensions in one
  file so that it never loads more.

Pages without widgets load none of the widget scripts; pages without math load
no MathJax (Sphinx's own rule). Enable with
``sphinx: local_extensions: {bookext: code/}`` in ``_config.yml`` (this folder is
the book's build glue, not part of the installed ``attnbook`` package).
"""

from __future__ import annotations

import pathlib
import shutil
from typing import Any

from sphinx.application import Sphinx
from sphinx.config import Config

_VENDOR = pathlib.Path(__file__).parent / "vendor"
STATIC_DIR = "attnbook"
SCRIPTS = ("require.js", "attnbook-widgets.js", "embed-amd.js")


def _anywidget_frontend() -> pathlib.Path:
    import anywidget

    path = pathlib.Path(anywidget.__file__).parent / "nbextension" / "index.js"
    if not path.is_file():
        raise FileNotFoundError(f"anywidget's AMD front-end not found at {path}; reinstall anywidget")
    return path


def _use_local_scripts(app: Sphinx, config: Config) -> None:
    config.nb_ipywidgets_js = {f"{STATIC_DIR}/{name}": {} for name in SCRIPTS}
    config.mathjax_path = f"{STATIC_DIR}/tex-svg-full.js"


def _copy_scripts(app: Sphinx) -> None:
    if app.builder is None or app.builder.format != "html":
        return
    target = pathlib.Path(app.outdir) / "_static" / STATIC_DIR
    target.mkdir(parents=True, exist_ok=True)
    shutil.copytree(_VENDOR, target, dirs_exist_ok=True)  # scripts, fonts, licence files
    shutil.copyfile(_anywidget_frontend(), target / "anywidget.js")


def _drop_duplicate_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree: Any) -> None:
    """Keep the first of identical ``<script>`` entries.

    sphinx-thebe 0.3 registers its inline ``const THEBE_JS_URL = ...`` once per
    read phase, and myst-nb's execution table triggers a second one, so the page
    would declare the constant twice (a console error that breaks Thebe).
    """
    seen: set[tuple[str, str]] = set()
    unique = []
    for script in context.get("script_files", []):
        # inline scripts come back with filename None or "" depending on the read phase
        key = (str(getattr(script, "filename", script) or ""), str(getattr(script, "attributes", {}).get("body", "")))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    context["script_files"][:] = unique  # in place: it is the builder's list, which others append to


def setup(app: Sphinx) -> dict[str, Any]:
    app.connect("config-inited", _use_local_scripts, priority=900)
    app.connect("builder-inited", _copy_scripts)
    # early: Sphinx stops this event at the first handler that returns a template name
    app.connect("html-page-context", _drop_duplicate_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
