"""Drop the stylesheet rules that nothing on the site can match.

The theme's stylesheet carries all of Bootstrap: a chapter page linked ~550 KB of rules, of
which the site's pages use a fraction, and a slow CPU parses and matches every rule it gets
(at 4x slowdown, parsing alone held a first visit's explorers back by ~0.3 s). The test is the
one PurgeCSS uses, done with ``tinycss2``: a selector can match only if every class and id it
names is a word somewhere in the site's HTML or in the scripts its pages load (scripts add
classes: Bootstrap's ``show``, sphinx-togglebutton's ``toggle-hidden``...). A rule is kept if
one of its selectors can match. What a selector requires inside ``:not(...)``, ``:is(...)``
and other parentheses, or inside ``[...]``, does not count (kept when unsure), nor does any
class that starts with a prefix in ``KEEP_PREFIXES`` (names scripts build at run time). At-rules
keep their place: ``@media`` and ``@supports`` blocks are purged inside and dropped when empty;
``@font-face``, ``@keyframes`` and the rest are kept whole, as are ``/*! ... */`` licence notices.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import tinycss2

#: Class-name prefixes kept whatever the pages hold: Bootstrap's scripts build these at run
#: time (``"bs-" + component + "-" + placement``: a tooltip's arrow) and no file spells them out.
KEEP_PREFIXES = ("bs-",)
#: At-rules whose blocks hold rules (purged inside) rather than declarations or frames.
NESTING = ("media", "supports", "container", "layer", "document")

_WORD = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"([.#])(-?[A-Za-z_][\w-]*)")
_PARENS = re.compile(r"\([^()]*\)|\[[^\[\]]*\]")


def words(texts: Iterable[str]) -> set[str]:
    """Every word (letters, digits, ``_``, ``-``) in ``texts``: the class names and ids that
    may occur on the site."""
    found: set[str] = set()
    for text in texts:
        found.update(_WORD.findall(text))
    return found


def may_match(selectors: str, used: set[str]) -> bool:
    """Whether any selector of a comma-separated list could match an element on the site."""
    if "\\" in selectors:  # escaped characters in a name: don't guess
        return True
    stripped, previous = selectors, None
    while previous != stripped:  # innermost first, so that nested ones go too
        previous, stripped = stripped, _PARENS.sub("", stripped)
    return any(
        all(
            name in used or (kind == "." and name.startswith(KEEP_PREFIXES))
            for kind, name in _NAME.findall(selector)
        )
        for selector in stripped.split(",")
    )


def _kept(nodes: list[Any], used: set[str]) -> list[Any]:
    out = []
    for node in nodes:
        if node.type == "qualified-rule":
            if may_match(tinycss2.serialize(node.prelude), used):
                out.append(node)
        elif (
            node.type == "at-rule"
            and node.lower_at_keyword in NESTING
            and node.content
        ):
            inner = _kept(tinycss2.parse_rule_list(node.content), used)
            if any(n.type in ("qualified-rule", "at-rule") for n in inner):
                node.content = inner
                out.append(node)
        elif node.type == "comment":
            if node.value.startswith("!"):  # a licence notice
                out.append(node)
        else:
            out.append(node)
    return out


def purge(css: str, used: set[str]) -> str:
    """``css`` without the rules no element can match, given the words ``used`` on the site."""
    nodes = tinycss2.parse_stylesheet(css, skip_whitespace=True)
    kept = _kept(nodes, used)
    return "\n".join(tinycss2.serialize([n]) for n in kept) + "\n"
