"""bookext.icons: which Font Awesome glyphs a page needs (no build, no browser)."""

from __future__ import annotations

from bookext.icons import (
    SCRIPTED,
    class_codepoints,
    css_codepoints,
    used_codepoints,
)

THEME_CSS = (
    '.fa-magnifying-glass:before,.fa-search:before{content:"\\f002"}'
    '.fa-bars:before{content:"\\f0c9"}.fa-github:before{content:"\\f09b"}'
    '.fa-xmark:before{content:"\\f00d"}'
    ':root{--pst-icon-bell:"\uf0f3"}.onthispage:after{content:"\\f107";font-weight:900}'
)


def test_class_table_maps_every_alias() -> None:
    table = class_codepoints(THEME_CSS)
    assert table["fa-magnifying-glass"] == table["fa-search"] == 0xF002
    assert table["fa-bars"] == 0xF0C9


def test_stylesheet_glyphs_are_found_escaped_or_literal_outside_the_class_table() -> (
    None
):
    assert css_codepoints(THEME_CSS) == {0xF0F3, 0xF107}


def test_pages_ask_for_their_icons_and_unknown_icons_are_reported() -> None:
    table = class_codepoints(THEME_CSS)
    pages = [
        '<i class="fa-solid fa-bars"></i><a class="nav-link"><i class="fab fa-github"></i></a>',
        '<span class="fa-solid fa-lg fa-no-such-icon"></span><p class="fa-lg">x</p>',
    ]
    used, missing = used_codepoints(pages, [THEME_CSS], table)
    scripted = {table[name] for name in SCRIPTED}
    assert used == {0xF0C9, 0xF09B, 0xF0F3, 0xF107} | scripted
    assert missing == ["fa-solid fa-lg fa-no-such-icon"]
