"""The chapters as notebooks: readable ``.ipynb`` exports, and parallel execution for the build.

The MyST sources ``chapters/NN_*.md`` are the only thing anyone edits. Two jobs work from them:

``export`` (``make notebooks``)
    Writes ``chapters/NN_*.ipynb``, the notebooks readers open in Jupyter, Colab and Binder. A notebook
    front-end renders plain Markdown only, so MyST's roles and directives are turned into what they show
    on the website: ``{term}`` -> the term in bold, linked to the glossary; ``{cite:p}``/``{footcite:p}``
    -> "(Author, year)" linked to the bibliography, and ``{footbibliography}`` -> the chapter's
    reference list; ``{literalinclude}`` -> a code block holding the included source, resolved with
    Sphinx's own reader (``:pyobject:``, ``:lines:``, ``:start-after:`` ...), so the code a page shows
    is the code its notebook shows; admonitions -> block quotes with a bold title (``:class: dropdown``
    -> a collapsed ``<details>``); exercises and solutions -> "Exercise N" block quotes and collapsed
    solutions (gated solutions keep their code cells); figures -> Markdown images, with the file
    attached to the cell so the notebook is self-contained (Colab opens the ``.ipynb`` alone);
    ``{ref}``/``{doc}`` -> links to the built site; ``{glue:text}`` -> ``⟨name⟩`` with a note that the
    value appears when the chapter runs. Code cells are copied unchanged; the notebooks carry no outputs.
    An unknown role or directive is an error, never raw text in a reader's notebook.

``execute`` (``make book``, before ``jupyter-book build``)
    Executes every chapter whose code is not yet in the execution cache, several at a time, and stores
    the results in the same cache (``execute.cache`` in ``_config.yml``) that the strict build then
    reads, so the build itself executes nothing. Each chapter is read with myst-nb's reader (the cache
    is keyed by the hash of its code cells) and run with jupyter-cache's ``single_nb_execution``, the
    call myst-nb makes itself. Workers: ``min(usable cores, chapters to run)``, each kernel on one
    thread (``OMP_NUM_THREADS=1`` ...; the chapters set torch's threads through ``attnbook.get_device``),
    so the machine is never oversubscribed: one core runs the chapters one after another, as before;
    eight cores run eight at once.

``build`` (``make book``)
    ``execute``, then the strict ``jupyter-book build``. The build's process starts as soon as a core
    would otherwise idle -- when no chapter is left to start and the last ones still run -- and gets as
    far as reading the documents (Python, Sphinx and the extensions start up: ~7 s of one core that
    would be wasted). There :func:`wait_for_chapters` (a bookext handler) holds it until every chapter
    is in the cache, then lets it read them; if a chapter failed, it stops it.

Usage (from the repository root)::

    python code/bookext/notebooks.py export [chapters/NN_x.md ...]   # default: every chapter
    python code/bookext/notebooks.py check                           # exit 1 if an .ipynb is stale
    python code/bookext/notebooks.py execute [--jobs N]
    python code/bookext/notebooks.py build [--jobs N]
"""

from __future__ import annotations

import argparse
import base64
import concurrent.futures
import dataclasses
import functools
import json
import math
import mimetypes
import multiprocessing
import os
import pathlib
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

# nbformat imports jsonschema, which compiles an IRI grammar on import when the optional
# rfc3987-syntax is installed (JupyterLab's jupyter-events brings it): ~2.5 s of CPU in this
# process and again in each executor worker, for a string format no notebook uses.
# None in sys.modules: "import rfc3987_syntax" raises ImportError, which jsonschema allows
sys.modules.setdefault("rfc3987_syntax", None)

import nbformat
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHAPTER_GLOB = "[0-9][0-9]_*.md"

# -- reading a chapter as myst-nb does -------------------------------------------------------------


def book_config(root: pathlib.Path = ROOT) -> dict[str, Any]:
    return yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))


def chapters(root: pathlib.Path = ROOT) -> list[pathlib.Path]:
    return sorted((root / "chapters").glob(CHAPTER_GLOB))


def read_chapter(
    md: pathlib.Path, root: pathlib.Path = ROOT
) -> nbformat.NotebookNode:
    """The notebook myst-nb builds from ``md`` (same parser settings), so cache hashes match the build's."""
    from myst_nb.core.read import read_myst_markdown_notebook
    from myst_parser.config.main import MdParserConfig

    extensions = (
        book_config(root).get("parse", {}).get("myst_enable_extensions", [])
    )
    config = MdParserConfig(enable_extensions=set(extensions))
    return read_myst_markdown_notebook(
        md.read_text(encoding="utf-8"), config=config, add_source_map=True, path=md
    )


# -- the site the notebooks link to ----------------------------------------------------------------


def site_url(config: dict[str, Any]) -> str:
    """``html.baseurl`` if set, else the GitHub Pages address of ``repository.url``."""
    base = (config.get("html") or {}).get("baseurl")
    if base:
        return base.rstrip("/")
    repo = config["repository"]["url"].rstrip("/")
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(\.git)?", repo)
    if not match:
        raise ValueError(
            f"set html.baseurl in _config.yml: cannot derive the site's address from {repo!r}"
        )
    owner, name = match.group(1), match.group(2)
    return f"https://{owner.lower()}.github.io/{name}"


# -- the bibliography ------------------------------------------------------------------------------


@functools.lru_cache(maxsize=4)
def _bibliography(path: pathlib.Path) -> Any:
    from pybtex.database import parse_file

    return parse_file(str(path))


@functools.cache
def _plain(latex: str) -> str:
    from pybtex.backends.plaintext import Backend
    from pybtex.richtext import Text

    return Text.from_latex(latex).render(
        Backend()
    )  # render_as() looks the backend up anew: slow


def _authors(entry: Any) -> list[str]:
    people = entry.persons.get("author") or entry.persons.get("editor") or []
    return [_plain(" ".join(person.last_names)) for person in people] or [
        _plain(entry.fields.get("title", "?"))
    ]


def _author_text(entry: Any, full: bool = False) -> str:
    names = _authors(entry)
    if len(names) == 1:
        return names[0]
    if len(names) == 2 or full:
        return ", ".join(names[:-1]) + " and " + names[-1]
    return f"{names[0]} et al."


def reference_list(keys: Iterable[str], bib: Any) -> str:
    """A numbered Markdown list of ``keys``, formatted by pybtex's ``unsrt`` style (in citation order)."""
    from pybtex.backends.markdown import Backend
    from pybtex.style.formatting.unsrt import Style

    backend = Backend()
    entries = [bib.entries[key] for key in keys]
    formatted = [
        entry.text.render(backend) for entry in Style().format_entries(entries)
    ]
    return "\n".join(
        f"{i}. {' '.join(text.split())}" for i, text in enumerate(formatted, 1)
    )


# -- the document: labels, exercises, citations ----------------------------------------------------


_DIRECTIVE = re.compile(
    r"^(?P<indent> {0,3})(?P<fence>`{3,}|:{3,})\{(?P<name>[^}\s]+)\}[ \t]*(?P<arg>.*)$"
)
_PLAIN_FENCE = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})")
_TARGET = re.compile(r"^\((?P<label>[^()\s]+)\)=\s*$")
_HEADING = re.compile(r"^#{1,6}\s+(?P<title>.+?)\s*#*\s*$")
_ROLE = re.compile(
    r"\{(?P<name>[A-Za-z][\w:+.-]*)\}(?P<ticks>`+)(?P<content>.+?)(?P=ticks)",
    re.DOTALL,
)
_EXPLICIT = re.compile(r"^(?P<text>.*?)\s*<(?P<target>[^<>]+)>$", re.DOTALL)
_LABELLED_MATH = re.compile(r"^(?P<math>.*?)\$\$\s*\((?P<label>[^()\s]+)\)\s*$")
_OPTION = re.compile(r"^:(?P<key>[\w-]+):\s*(?P<value>.*)$")


def _closing(lines: list[str], start: int, fence: str) -> int:
    """Index of the line closing the fence opened at ``start`` (``len(lines)`` if none)."""
    char, width = fence[0], len(fence)
    for i in range(start + 1, len(lines)):
        stripped = lines[i].strip()
        if stripped and set(stripped) == {char} and len(stripped) >= width:
            return i
    return len(lines)


def _split_options(body: list[str]) -> tuple[dict[str, str], list[str]]:
    """A directive's ``:key: value`` lines (or ``---`` YAML block) and the content after them."""
    options: dict[str, str] = {}
    if body and body[0].strip() == "---":
        end = next(
            (i for i in range(1, len(body)) if body[i].strip() == "---"), None
        )
        if end is not None:
            loaded = yaml.safe_load("\n".join(body[1:end])) or {}
            return {
                str(k): "" if v is None else str(v) for k, v in loaded.items()
            }, body[end + 1 :]
    i = 0
    while i < len(body) and (match := _OPTION.match(body[i].strip())):
        options[match["key"]] = match["value"]
        i += 1
    return options, body[i:]


def _strip_blank(lines: list[str]) -> list[str]:
    while lines and not lines[0].strip():
        lines = lines[1:]
    while lines and not lines[-1].strip():
        lines = lines[:-1]
    return lines


@dataclasses.dataclass
class Labels:
    """What ``{ref}`` targets name, across every page of the book: label -> (page stem, title), and the
    glossary's terms as spelled there (lower case -> spelling: Sphinx makes the anchor from the spelling)."""

    targets: dict[str, tuple[str, str]]
    terms: dict[str, str]

    @classmethod
    def scan(cls, folder: pathlib.Path) -> Labels:
        targets: dict[str, tuple[str, str]] = {}
        terms: dict[str, str] = {}
        for md in sorted(folder.glob("*.md")):
            lines = md.read_text(encoding="utf-8").splitlines()
            for i, line in enumerate(lines):
                if (directive := _DIRECTIVE.match(line)) and directive[
                    "name"
                ] == "glossary":
                    _, body = _split_options(
                        lines[i + 1 : _closing(lines, i, directive["fence"])]
                    )
                    terms |= {
                        term.strip().lower(): term.strip()
                        for term in body
                        if term.strip() and term[0] != " "
                    }
                if match := _TARGET.match(line):
                    following = next((x for x in lines[i + 1 :] if x.strip()), "")
                    heading = _HEADING.match(following)
                    targets[match["label"]] = (
                        md.stem,
                        heading["title"] if heading else match["label"],
                    )
                elif (directive := _DIRECTIVE.match(line)) and directive[
                    "name"
                ] in ("figure", "table"):
                    end = _closing(lines, i, directive["fence"])
                    options, content = _split_options(lines[i + 1 : end])
                    if "name" in options:
                        caption = next(
                            (x.strip() for x in content if x.strip()),
                            options["name"],
                        )
                        targets[options["name"]] = (md.stem, caption)
        return cls(targets, terms)


@dataclasses.dataclass
class Chapter:
    """One chapter being exported: its path, the book's settings, and what its text defines."""

    md: pathlib.Path
    site: str
    bib: Any
    labels: Labels
    exercises: dict[str, int] = dataclasses.field(default_factory=dict)
    equations: dict[str, int] = dataclasses.field(default_factory=dict)
    cited: list[str] = dataclasses.field(default_factory=list)
    uses_glue: bool = False
    exercises_rendered: int = 0

    def scan(self, text: str) -> None:
        """Number the exercises and labelled equations; collect the cited keys in order."""
        lines = text.splitlines()
        count = 0
        for i, line in enumerate(lines):
            directive = _DIRECTIVE.match(line)
            if directive and directive["name"] in ("exercise", "exercise-start"):
                count += 1
                options, _ = _split_options(
                    lines[i + 1 : _closing(lines, i, directive["fence"])]
                )
                self.exercises[options.get("label", f"#{count}")] = count
            elif match := _LABELLED_MATH.match(line.strip()):
                self.equations[match["label"]] = len(self.equations) + 1
        for role in _ROLE.finditer(text):
            if role["name"].split(":")[0] in ("cite", "footcite"):
                for key in role["content"].split(","):
                    if key.strip() not in self.cited:
                        self.cited.append(key.strip())

    def page(self, stem: str, anchor: str = "") -> str:
        return f"{self.site}/chapters/{stem}.html" + (
            f"#{anchor}" if anchor else ""
        )

    def where(self, line: str) -> str:
        return f"{self.md.name}: {line.strip()[:80]!r}"


# -- roles ------------------------------------------------------------------------------------------


def _explicit(content: str) -> tuple[str, str]:
    """``text <target>`` -> (text, target); ``target`` -> (target, target)."""
    content = " ".join(content.split())
    match = _EXPLICIT.match(content)
    return (
        (match["text"], match["target"])
        if match and match["text"]
        else (content, content)
    )


def _term(chapter: Chapter, content: str) -> str:
    from sphinx.util.nodes import _make_id

    text, term = _explicit(content)
    if term.lower() not in chapter.labels.terms:
        raise ValueError(
            f"{chapter.md.name}: {{term}} names {term!r}, which the glossary does not define"
        )
    anchor = _make_id("term-" + chapter.labels.terms[term.lower()])
    return f"[**{text}**]({chapter.page('glossary', anchor)})"


def _cite(chapter: Chapter, name: str, content: str) -> str:
    variant = name.split(":")[1] if ":" in name else "p"
    parts = []
    for key in (k.strip() for k in content.split(",")):
        if key not in chapter.bib.entries:
            raise ValueError(
                f"{chapter.md.name}: {{{name}}} cites {key!r}, which is not in references.bib"
            )
        entry = chapter.bib.entries[key]
        year = entry.fields.get("year", "n.d.")
        author = _author_text(entry, full=variant.endswith("s"))
        link = chapter.page("bibliography")
        if variant in ("t", "ts"):
            parts.append(f"{author} ([{year}]({link}))")
        elif variant == "year":
            parts.append(f"[{year}]({link})")
        elif variant == "author":
            parts.append(author)
        else:
            parts.append(f"[{author}, {year}]({link})")
    return (
        "; ".join(parts)
        if variant in ("t", "ts", "author")
        else "(" + "; ".join(parts) + ")"
    )


def _ref(chapter: Chapter, name: str, content: str) -> str:
    text, label = _explicit(content)
    if name == "doc":
        stem = pathlib.PurePosixPath(label).stem
        return f"[{text if text != label else stem}]({chapter.page(stem)})"
    if name == "eq":
        if label not in chapter.equations:
            raise ValueError(
                f"{chapter.md.name}: {{eq}} names an unknown equation {label!r}"
            )
        return f"({chapter.equations[label]})"
    if label in chapter.exercises and text == label:
        return f"Exercise {chapter.exercises[label]}"
    if label not in chapter.labels.targets:
        raise ValueError(
            f"{chapter.md.name}: {{{name}}} names an unknown label {label!r}"
        )
    stem, title = chapter.labels.targets[label]
    if text == label:
        text = title
    return (
        f"[{text.replace('%s', '').strip() or title}]({chapter.page(stem, label)})"
    )


def _glue(chapter: Chapter, content: str) -> str:
    chapter.uses_glue = True
    return f"⟨{content.split(':')[0].strip()}⟩"


def render_role(chapter: Chapter, name: str, content: str) -> str:
    if name == "term":
        return _term(chapter, content)
    if name.split(":")[0] in ("cite", "footcite"):
        return _cite(chapter, name, content)
    if name in ("ref", "numref", "doc", "eq"):
        return _ref(chapter, name, content)
    if name.startswith("glue"):
        return _glue(chapter, content)
    simple: dict[str, Callable[[str], str]] = {
        "math": lambda c: f"${c}$",
        "code": lambda c: f"`{c}`",
        "sub": lambda c: f"<sub>{c}</sub>",
        "sup": lambda c: f"<sup>{c}</sup>",
        "kbd": lambda c: f"<kbd>{c}</kbd>",
        "guilabel": lambda c: f"**{c}**",
        "abbr": lambda c: _explicit(c.replace("(", "<").replace(")", ">"))[0],
        "index": lambda c: "",
    }
    if name in simple:
        return simple[name](content)
    raise ValueError(
        f"{chapter.md.name}: don't know how to export the role {{{name}}}`{content}` to a notebook"
    )


# -- directives --------------------------------------------------------------------------------------

ADMONITIONS = {
    "note", "tip", "hint", "important", "warning", "caution", "attention", "danger", "error", "seealso",
    "admonition", "dropdown", "margin", "sidebar", "topic", "epigraph",
}  # fmt: skip


def _quote(lines: list[str]) -> list[str]:
    return [f"> {line}" if line.strip() else ">" for line in lines]


def _block(title: str, body: list[str], collapsed: bool) -> list[str]:
    """A titled block quote, or a collapsed ``<details>`` where the site collapses it."""
    body = _strip_blank(body)
    if collapsed:
        return [
            f"<details><summary><b>{title}</b></summary>",
            "",
            *body,
            "",
            "</details>",
        ]
    return _quote([f"**{title}**", *([""] + body if body else [])])


def _code_block(code: str, language: str) -> list[str]:
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}{language}", *code.rstrip("\n").splitlines(), fence]


def _literalinclude(
    chapter: Chapter, path: str, options: dict[str, str]
) -> list[str]:
    from sphinx.directives.code import LiteralIncludeReader

    filename = (chapter.md.parent / path).resolve()
    if not filename.is_file():
        raise ValueError(
            f"{chapter.md.name}: literalinclude of a missing file {path!r}"
        )
    typed: dict[str, Any] = {}
    for key, value in options.items():
        if key in ("dedent", "lineno-start", "tab-width"):
            typed[key] = int(value) if value else None
        elif key in (
            "linenos",
            "lineno-match",
            "force",
            "emphasize-lines",
            "name",
            "class",
        ):
            continue  # presentation only
        else:
            typed[key] = value
    config = argparse.Namespace(source_encoding="utf-8-sig")
    code, _ = LiteralIncludeReader(str(filename), typed, config).read()  # type: ignore[arg-type]
    caption = [f"*{options['caption']}*", ""] if options.get("caption") else []
    return caption + _code_block(code, options.get("language", ""))


def _image(
    chapter: Chapter,
    path: str,
    options: dict[str, str],
    attachments: dict[str, dict[str, str]],
) -> str:
    """``![alt](attachment:name)`` for a local file (attached to the cell), else a plain image link."""
    alt = " ".join(options.get("alt", "").split())
    file = chapter.md.parent / path
    if "://" in path or not file.is_file():
        if "://" not in path:
            raise ValueError(
                f"{chapter.where(path)}: the image file does not exist"
            )
        return f"![{alt}]({path})"
    mime = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    attachments[file.name] = {
        mime: base64.b64encode(file.read_bytes()).decode("ascii")
    }
    return f"![{alt}](attachment:{file.name})"


def render_directive(
    chapter: Chapter,
    name: str,
    arg: str,
    body: list[str],
    attachments: dict[str, dict[str, str]],
) -> list[str]:
    options, content = _split_options(body)

    def inner() -> list[str]:
        return transform_lines(chapter, content, attachments)

    collapsed = "dropdown" in options.get("class", "").split() or name == "dropdown"
    if name in ADMONITIONS:
        title = (
            arg.strip()
            if name in ("admonition", "dropdown", "topic", "sidebar")
            and arg.strip()
            else name.title()
        )
        if name == "seealso":
            title = "See also"
        if (
            name
            not in (
                "admonition",
                "dropdown",
                "topic",
                "sidebar",
                "margin",
                "epigraph",
            )
            and arg.strip()
        ):
            content = [arg, *content]
        return _block(render_inline(chapter, title), inner(), collapsed)
    if name in ("exercise", "exercise-start"):
        chapter.exercises_rendered += 1
        number = chapter.exercises[
            options.get("label", f"#{chapter.exercises_rendered}")
        ]
        title = f"Exercise {number}" + (
            f" ({render_inline(chapter, arg.strip())})" if arg.strip() else ""
        )
        return (
            _block(title, inner(), collapsed=False)
            if name == "exercise"
            else [f"**{title}**", "", *inner()]
        )
    if name in ("solution", "solution-start"):
        label = arg.strip()
        title = (
            f"Solution to Exercise {chapter.exercises[label]}"
            if label in chapter.exercises
            else "Solution"
        )
        if name == "solution":
            return _block(title, inner(), collapsed=True)
        return [f"**{title}**", "", *inner()]
    if name in ("solution-end", "exercise-end", "index", "highlight"):
        return []
    if name == "literalinclude":
        return _literalinclude(chapter, arg.strip(), options)
    if name in ("code-block", "code", "sourcecode"):
        return _code_block("\n".join(content), arg.strip())
    if name == "math":
        return ["$$", *_strip_blank(content), "$$"]
    if name in ("figure", "image"):
        image = _image(chapter, arg.strip(), options, attachments)
        caption = _strip_blank(inner()) if name == "figure" else []
        return [image, *([""] + caption if caption else [])]
    if name == "footbibliography":
        if not chapter.cited:
            return []
        return [reference_list(chapter.cited, chapter.bib)]
    if name in ("glue", "glue:figure", "glue:any", "glue:md", "glue:math"):
        chapter.uses_glue = True
        key = arg.strip()
        caption = _strip_blank(inner())
        return _quote(
            [
                f"*⟨{key}⟩ is drawn when the chapter runs.*",
                *([""] + caption if caption else []),
            ]
        )
    if name in ("table", "div", "only"):
        title = (
            [f"**{render_inline(chapter, arg.strip())}**", ""]
            if name == "table" and arg.strip()
            else []
        )
        return title + inner()
    if name == "raw":
        return content if arg.strip() == "html" else []
    raise ValueError(
        f"{chapter.where(name)}: don't know how to export the directive {{{name}}} to a notebook"
    )


# -- the transformation -------------------------------------------------------------------------------


def render_inline(chapter: Chapter, text: str) -> str:
    return _ROLE.sub(lambda m: render_role(chapter, m["name"], m["content"]), text)


_MARKDOWN_IMAGE = re.compile(r"!\[(?P<alt>[^\]]*)\]\((?P<path>[^)\s]+)\)")


def _attach_images(
    chapter: Chapter, text: str, attachments: dict[str, dict[str, str]]
) -> str:
    """Markdown images of local files become cell attachments, like figures."""

    def attach(match: re.Match[str]) -> str:
        path = match["path"]
        if "://" in path or path.startswith("attachment:"):
            return match.group(0)
        return _image(chapter, path, {"alt": match["alt"]}, attachments)

    return _MARKDOWN_IMAGE.sub(attach, text)


def _text_lines(
    chapter: Chapter, lines: list[str], attachments: dict[str, dict[str, str]]
) -> list[str]:
    """Prose: drop targets and comments, number labelled equations, then render the roles."""
    out: list[str] = []
    for line in lines:
        if _TARGET.match(line.strip()):
            out.append(f'<a id="{_TARGET.match(line.strip())["label"]}"></a>')  # type: ignore[index]
        elif line.startswith("%"):
            continue
        elif match := _LABELLED_MATH.match(
            line.strip()
        ):  # "$$ (label)" closes a numbered equation
            out.append(
                rf"{match['math']} \tag{{{chapter.equations[match['label']]}}} $$"
            )
        else:
            out.append(line)
    return (
        _attach_images(
            chapter, render_inline(chapter, "\n".join(out)), attachments
        ).split("\n")
        if out
        else []
    )


def transform_lines(
    chapter: Chapter, lines: list[str], attachments: dict[str, dict[str, str]]
) -> list[str]:
    out: list[str] = []
    text: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        directive = _DIRECTIVE.match(line)
        plain = None if directive else _PLAIN_FENCE.match(line)
        if not directive and not plain:
            text.append(line)
            i += 1
            continue
        out += _text_lines(chapter, text, attachments)
        text = []
        fence = (directive or plain)["fence"]  # type: ignore[index]
        end = _closing(lines, i, fence)
        if directive:
            indent = directive["indent"]
            body = [x.removeprefix(indent) for x in lines[i + 1 : end]]
            out += render_directive(
                chapter, directive["name"], directive["arg"], body, attachments
            )
        else:
            out += lines[i : end + 1]  # a plain code block: copied as it is
        i = end + 1
    return out + _text_lines(chapter, text, attachments)


def export_markdown(
    chapter: Chapter, source: str
) -> tuple[str, dict[str, dict[str, str]]]:
    """One markdown cell's source as plain Markdown, and the files it attaches."""
    attachments: dict[str, dict[str, str]] = {}
    lines = transform_lines(chapter, source.splitlines(), attachments)
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip("\n")
    return text, attachments


GLUE_NOTE = (
    "> Values shown as ⟨name⟩ are computed when the chapter runs: the website shows them in place; here, run "
    "the cells and read them from the printed output."
)


def export_notebook(
    md: pathlib.Path, root: pathlib.Path = ROOT
) -> nbformat.NotebookNode:
    """The reader's notebook for chapter ``md``: plain Markdown, the code cells as they are, no outputs."""
    md = md.resolve()
    config = book_config(root)
    chapter = Chapter(
        md=md,
        site=site_url(config),
        bib=_bibliography(root / config["bibtex_bibfiles"][0]),
        labels=Labels.scan(md.parent),
    )
    chapter.scan(md.read_text(encoding="utf-8"))
    source = read_chapter(md, root)
    cells = []
    for cell in source.cells:
        if cell.cell_type == "markdown":
            text, attachments = export_markdown(chapter, cell.source)
            if not text:
                continue
            new = nbformat.v4.new_markdown_cell(text)
            if attachments:
                new.attachments = attachments
        elif cell.cell_type == "code":
            new = nbformat.v4.new_code_cell(
                cell.source, metadata=dict(cell.metadata)
            )
        else:
            new = nbformat.v4.new_raw_cell(
                cell.source, metadata=dict(cell.metadata)
            )
        cells.append(new)
    if chapter.uses_glue:
        first = next(c for c in cells if c.cell_type == "markdown")
        first.source += "\n\n" + GLUE_NOTE
    if cells and cells[0].cell_type == "markdown":
        cells[0].source = (
            f"<!-- Generated from {md.name} by `make notebooks`: edit the .md, not this file. -->\n"
            + (cells[0].source)
        )
    for i, cell in enumerate(cells):
        cell.id = f"cell-{i:03d}"
    metadata = {
        "kernelspec": dict(source.metadata["kernelspec"]),
        "language_info": {"name": "python"},
    }
    return nbformat.v4.new_notebook(
        cells=cells, metadata=metadata, nbformat_minor=5
    )


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """What Jupyter writes for ``nb`` (``nbformat.writes``), so a save that changes nothing changes no byte."""
    return nbformat.writes(nb, version=nbformat.NO_CONVERT) + "\n"


def _outdated(
    mds: Iterable[pathlib.Path], root: pathlib.Path
) -> Iterator[tuple[pathlib.Path, str]]:
    """``(notebook, text)`` for each chapter whose ``.ipynb`` is missing or differs
    from its export."""
    for md in mds:
        target = md.with_suffix(".ipynb")
        text = notebook_text(export_notebook(md, root))
        if not target.is_file() or target.read_text(encoding="utf-8") != text:
            yield target, text


def export(
    mds: Iterable[pathlib.Path], root: pathlib.Path = ROOT
) -> list[pathlib.Path]:
    written = []
    for target, text in _outdated(mds, root):
        target.write_text(text, encoding="utf-8")
        written.append(target)
    return written


def stale(
    mds: Iterable[pathlib.Path], root: pathlib.Path = ROOT
) -> list[pathlib.Path]:
    """The ``.ipynb`` files that are missing or differ from what ``export`` would write."""
    return [target for target, _ in _outdated(mds, root)]


# -- JupyterLab: saving a chapter notebook never dirties the repository ----------------------------------


def strip_outputs_before_save(
    model: dict[str, Any], path: str, **kwargs: Any
) -> None:
    """A Jupyter ``ContentsManager.pre_save_hook`` (``make lab`` installs it) for the exported chapters.

    Autosave would write outputs, execution counts and kernel metadata into the tracked notebooks. This
    hook drops them from what is written (the open notebook keeps its outputs), so reading and running
    a chapter leaves ``git status`` clean; edits to cells are still saved.
    """
    manager = kwargs.get("contents_manager")
    file = pathlib.Path(getattr(manager, "root_dir", "."), path)
    is_export = (
        file.parent.name == "chapters"
        and re.fullmatch(r"\d\d_.+", file.stem)
        and file.with_suffix(".md").is_file()
    )
    if model.get("type") != "notebook" or not is_export:
        return
    nb = model["content"]
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        metadata = cell.get("metadata", {})
        for key in (
            "execution",
            "collapsed",
            "scrolled",
            "trusted",
            "jp-MarkdownHeadingCollapsed",
        ):
            metadata.pop(key, None)
    kernelspec = nb["metadata"].get("kernelspec")
    nb["metadata"] = {"language_info": {"name": "python"}} | (
        {"kernelspec": kernelspec} if kernelspec else {}
    )


# -- parallel execution into the build's cache -----------------------------------------------------------


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


# One thread per kernel; and the outputs are for a static page (attnbook.train: no progress-bar widgets).
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "ATTNBOOK_STATIC_PAGE": "1",
}


#: Seconds each chapter took when it last ran, beside the cache (``_build/``), which a cold build deletes.
TIMES_FILE = "chapter-times.json"


def longest_first(
    mds: list[pathlib.Path], times: dict[str, float]
) -> list[pathlib.Path]:
    """``mds`` with the slowest last time first (never timed: first of all), so that the workers,
    each taking the next chapter when free, finish close together (longest processing time first)."""
    return sorted(mds, key=lambda md: -times.get(md.stem, math.inf))


def _read_times(path: pathlib.Path) -> dict[str, float]:
    try:
        return {k: float(v) for k, v in json.loads(path.read_text("utf-8")).items()}
    except (OSError, ValueError, AttributeError):
        return {}


@dataclasses.dataclass
class Run:
    md: pathlib.Path
    seconds: float
    peak_mb: float
    notebook: nbformat.NotebookNode | None
    error: str | None


def _kernel_rss(poll_s: float, stop: threading.Event, peak: list[int]) -> None:
    """Peak RSS of this process's children (the kernel and anything it starts), polled."""
    import psutil

    me = psutil.Process()
    while not stop.wait(poll_s):
        total = 0
        for child in me.children(recursive=True):
            try:
                total += child.memory_info().rss
            except psutil.Error:
                pass
        peak[0] = max(peak[0], total)


def execute_chapter(
    md: pathlib.Path, root: pathlib.Path, timeout: int | None
) -> Run:
    """Run one chapter in a fresh kernel (in the chapter's folder), as myst-nb would; measure it."""
    from jupyter_cache.executors.utils import single_nb_execution

    nb = read_chapter(md, root)
    peak = [0]
    stop = threading.Event()
    poller = threading.Thread(
        target=_kernel_rss, args=(0.2, stop, peak), daemon=True
    )
    poller.start()
    start = time.perf_counter()
    try:
        result = single_nb_execution(
            nb,
            cwd=str(md.parent),
            timeout=timeout,
            allow_errors=False,
            meta_override=True,
            # the outputs are in: kill the kernel rather than let it tear down torch & co
            # (1-2 s of CPU per chapter, counted in its time and spent beside the other worker)
            shutdown_kernel="immediate",
        )
    finally:
        stop.set()
        poller.join()
    seconds = time.perf_counter() - start
    if result.err is not None:
        return Run(
            md,
            seconds,
            peak[0] / 2**20,
            None,
            result.exc_string or repr(result.err),
        )
    return Run(md, result.time, peak[0] / 2**20, nb, None)


def execute(
    mds: list[pathlib.Path],
    root: pathlib.Path = ROOT,
    jobs: int | None = None,
    log: Callable[[str], None] = print,
    on_core_free: Callable[[], None] | None = None,
) -> list[Run]:
    """Execute the chapters of ``mds`` missing from the build's cache, ``jobs`` at a time; cache the results.

    Returns a ``Run`` per executed chapter (none for cached ones). The kernels run with one thread each.
    ``on_core_free`` is called once, when no chapter is left to start and a worker has nothing to do.
    A stamp in the cache folder records a run after which every chapter was cached: while no chapter is
    newer than it, nothing is read (a warm rebuild skips importing the parser and the cache). Whatever
    this step leaves out, the build's own cache lookup still executes.
    """
    config = book_config(root)
    execute_config = config.get("execute", {})
    cache_dir = root / execute_config.get("cache", "_build/.jupyter_cache")
    stamp = cache_dir / "all-executed.stamp"
    if stamp.is_file() and all(
        md.stat().st_mtime < stamp.stat().st_mtime for md in mds
    ):
        log("no chapter changed since they were all executed")
        return []
    from jupyter_cache import get_cache
    from jupyter_cache.base import CacheBundleIn

    cache = get_cache(str(cache_dir))
    timeout = execute_config.get("timeout", 30)
    todo = []
    for md in mds:
        try:
            cache.match_cache_notebook(read_chapter(md, root))
        except KeyError:
            todo.append(md)
    every_chapter = {md.resolve() for md in mds} == {
        md.resolve() for md in chapters(root)
    }
    if not todo:
        log("every chapter is in the execution cache")
        if every_chapter:
            stamp.touch()
        return []
    times_file = cache_dir.parent / TIMES_FILE
    times = _read_times(times_file)
    todo = longest_first(todo, times)
    jobs = max(1, min(jobs or usable_cores(), len(todo)))
    for name, value in ONE_THREAD.items():
        os.environ.setdefault(name, value)
    log(
        f"executing {len(todo)} chapter(s), {jobs} at a time ({usable_cores()} usable cores), "
        f"longest first: {', '.join(md.stem[:2] for md in todo)}"
    )
    runs = []
    context = multiprocessing.get_context(
        "spawn"
    )  # no forking of a process that runs threads
    with concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=context
    ) as pool:
        futures = [pool.submit(execute_chapter, md, root, timeout) for md in todo]
        for future in concurrent.futures.as_completed(futures):
            run = future.result()
            runs.append(run)
            if on_core_free is not None and len(todo) - len(runs) == jobs - 1:
                on_core_free()
            status = "FAILED" if run.error else "ok"
            log(
                f"{run.md.name}: {status} in {run.seconds:.1f} s, peak kernel RSS {run.peak_mb:.0f} MB"
            )
            if run.notebook is not None:
                times[run.md.stem] = round(run.seconds, 2)
                times_file.parent.mkdir(parents=True, exist_ok=True)
                times_file.write_text(
                    json.dumps(times, indent=1, sort_keys=True), "utf-8"
                )
                cache.cache_notebook_bundle(
                    CacheBundleIn(
                        run.notebook,
                        str(run.md),
                        data={
                            "execution_seconds": run.seconds,
                            "peak_mb": run.peak_mb,
                        },
                    ),
                    check_validity=False,
                    overwrite=True,
                )
    if every_chapter and not any(run.error for run in runs):
        stamp.touch()
    return sorted(runs, key=lambda r: r.md.name)


#: Set by :func:`build` for the jupyter-book process it starts: wait for a word on stdin before reading.
GATE_ENV = "ATTNBOOK_BUILD_GATE"
BUILD_FLAGS = ("-n", "-W", "--keep-going")


def wait_for_chapters(app: Any, env: Any, docnames: Any) -> None:
    """bookext's ``env-before-read-docs`` handler: under :func:`build`, read nothing before every
    chapter is in the execution cache ("go" on stdin); stop the build if one failed."""
    if not os.environ.get(GATE_ENV):
        return
    word = sys.stdin.readline().strip()
    if word != "go":
        raise RuntimeError(
            f"a chapter failed to execute: the build stops before reading ({word!r})"
        )


def build(
    mds: list[pathlib.Path],
    root: pathlib.Path = ROOT,
    jobs: int | None = None,
    log: Callable[[str], None] = print,
    output: IO[str] | None = None,
) -> tuple[list[Run], int]:
    """``make book``: :func:`execute`, then ``jupyter-book build . -n -W --keep-going``, whose start-up
    overlaps the last chapters (see the module's docstring). Returns the runs and the build's exit
    status (non-zero also when a chapter failed). ``output``: where the build writes (default: here)."""
    command = [
        str(pathlib.Path(sys.executable).parent / "jupyter-book"),
        "build",
        str(root),
        *BUILD_FLAGS,
    ]
    started: list[subprocess.Popen] = []

    def start() -> None:
        if not started:
            started.append(
                subprocess.Popen(
                    command,
                    cwd=root,
                    stdin=subprocess.PIPE,
                    stdout=output,
                    stderr=subprocess.STDOUT if output is not None else None,
                    env=os.environ | {GATE_ENV: "1"},
                    text=True,
                )
            )

    try:
        runs = execute(mds, root, jobs, log, on_core_free=start)
    except BaseException:
        for process in started:
            process.kill()
        raise
    start()
    failed = any(run.error for run in runs)
    render = started[0]
    try:
        render.stdin.write("stop\n" if failed else "go\n")
        render.stdin.close()
    except BrokenPipeError:  # it stopped before the gate: its status says why
        pass
    status = render.wait()
    return runs, status or int(failed)


# -- command line -------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["export", "check", "execute", "build"])
    parser.add_argument(
        "chapters",
        nargs="*",
        type=pathlib.Path,
        help="default: every chapters/NN_*.md",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=int(os.environ.get("JOBS") or 0) or None,
        help="chapters executed at once (default: min(usable cores, chapters to run); env JOBS)",
    )
    args = parser.parse_args(argv)
    mds = [p.resolve() for p in args.chapters] or chapters()
    if args.command == "export":
        for path in export(mds):
            print(f"wrote {path.relative_to(ROOT)}")
        return 0
    if args.command == "check":
        outdated = stale(mds)
        for path in outdated:
            print(
                f"{path.relative_to(ROOT)} differs from its export: run `make notebooks`",
                file=sys.stderr,
            )
        return 1 if outdated else 0
    if args.command == "build":
        runs, status = build(mds, jobs=args.jobs)
    else:
        runs = execute(mds, jobs=args.jobs)
        status = 0
    failed = [run for run in runs if run.error]
    for run in failed:
        print(f"\n{run.md.name} failed:\n{run.error}", file=sys.stderr)
    if runs:
        summary = {
            run.md.stem: {
                "exec_s": round(run.seconds, 2),
                "peak_mb": round(run.peak_mb),
            }
            for run in runs
        }
        print(json.dumps(summary))
    return 1 if failed or status else 0


if __name__ == "__main__":
    sys.exit(main())
