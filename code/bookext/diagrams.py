"""Draw the book's architecture diagrams: ``chapters/figures/NN-*.svg``.

Run ``python code/bookext/diagrams.py [name ...]`` (with ``code/`` on
``PYTHONPATH``) to rewrite every SVG (or the named ones). Numbers drawn come from
the package (``masked_softmax``, ``sinusoidal_table``, the kernels), and
``code/tests/test_diagrams.py`` checks that every committed SVG carries the
labels this script draws now and that the shapes printed in the multi-head and
ViT diagrams are the modules' shapes -- so a change to the code shows up as a
failing test until the figures are redrawn. ``chapters/figures/MANIFEST.md``
says where each figure goes, with its alt text and caption.

One visual language: colours come from :mod:`attnbook.viz.theme` (query, key,
value, weights; weights themselves in the explorers' ``viridis``), one font
stack (the site theme's system fonts), one box and arrow style. Every SVG has
its own light card as background, so it reads the same on the site's light and
dark pages (an ``<img>`` cannot see the page's CSS). Text sizes are measured
with matplotlib's font metrics (DejaVu Sans, wider than the system fonts, so
estimates err on the safe side) and :meth:`Diagram.svg` refuses a drawing
whose labels overlap each other, cut into a box or leave the canvas.
"""

from __future__ import annotations

import functools
import itertools
import math
import pathlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from xml.sax.saxutils import escape

from attnbook.viz.theme import FONT_FAMILY, INK, MASKED, PALETTE, SEQUENTIAL_CMAP

__all__ = ["DIAGRAMS", "Diagram", "figures_dir"]

WIDTH = 750  # the text column of the built site, in CSS pixels
SIZE = 13  # label font size
SMALL = 11.5  # shapes and notes
TITLE = 14  # panel titles
MUTED = "#555555"
CARD = "#ffffff"
CARD_EDGE = "#d4d4d4"
BOX_EDGE = "#666666"
NEUTRAL_FILL = "#f2f2f2"
ROLE_COLOURS = {**PALETTE, "ink": INK, "muted": "#888888"}


def figures_dir() -> pathlib.Path:
    return pathlib.Path(__file__).resolve().parents[2] / "chapters" / "figures"


def _hex(rgb: tuple[float, ...]) -> str:
    return "#" + "".join(f"{round(255 * c):02x}" for c in rgb[:3])


def tint(colour: str, amount: float = 0.82) -> str:
    """``colour`` mixed with white (``amount`` = share of white): box fills."""
    r, g, b = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return _hex(tuple(c + (1 - c) * amount for c in (r, g, b)))


def on_weight(x: float) -> str:
    """Text colour that reads on ``weight_colour(x)``: white on the dark half of viridis."""
    return "#ffffff" if x < 0.45 else INK


def weight_colour(x: float) -> str:
    """The explorers' colour map at ``x`` in [0, 1]."""
    from matplotlib import colormaps

    return _hex(colormaps[SEQUENTIAL_CMAP](float(x)))


# ----------------------------------------------------------------------------- text
_TOKEN = re.compile(r"\*\*(.+?)\*\*|_\{(.+?)\}|\^\{(.+?)\}")


@dataclass
class Run:
    text: str
    shift: float = 0.0  # baseline shift in units of the font size (+ = down)
    scale: float = 1.0
    bold: bool = False


def parse(label: str) -> list[Run]:
    """``**bold**``, ``_{sub}``, ``^{sup}``; nothing nests except bold inside sub/sup."""
    runs: list[Run] = []
    pos = 0
    for m in _TOKEN.finditer(label):
        if m.start() > pos:
            runs.append(Run(label[pos : m.start()]))
        if m.group(1) is not None:
            runs.append(Run(m.group(1), bold=True))
        else:
            inner, shift = (
                (m.group(2), 0.3) if m.group(2) is not None else (m.group(3), -0.38)
            )
            for r in parse(inner):
                runs.append(Run(r.text, shift, 0.74, r.bold))
        pos = m.end()
    if pos < len(label):
        runs.append(Run(label[pos:]))
    return runs


@functools.cache
def _run_width(text: str, size: float, bold: bool) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(
        family="DejaVu Sans", size=size, weight="bold" if bold else "normal"
    )
    width, _, _ = TextToPath().get_text_width_height_descent(
        text.replace(" ", "\u00a0"), prop, ismath=False
    )
    return width


def text_width(label: str, size: float = SIZE, bold: bool = False) -> float:
    """Estimated width in px: DejaVu Sans metrics plus 3 % for other fonts' hinting and kerning."""
    return 1.03 * sum(
        _run_width(r.text, size * r.scale, bold or r.bold) for r in parse(label)
    )


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def l(self) -> float:  # left edge, like r, t, b
        return self.x

    @property
    def r(self) -> float:
        return self.x + self.w

    @property
    def t(self) -> float:
        return self.y

    @property
    def b(self) -> float:
        return self.y + self.h

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    def overlaps(self, other: Box, pad: float = 0.5) -> bool:
        return not (
            self.r - pad <= other.l
            or other.r - pad <= self.l
            or self.b - pad <= other.t
            or other.b - pad <= self.t
        )


def _f(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


# ----------------------------------------------------------------------------- drawing
class Diagram:
    """An SVG under construction: boxes, labels and arrows on a ``WIDTH``-wide card."""

    def __init__(self, name: str, height: float, title: str, desc: str) -> None:
        self.name, self.height, self.title, self.desc = name, height, title, desc
        self.body: list[str] = []
        self.labels: list[tuple[Box, str]] = []
        self.shapes: list[
            Box
        ] = []  # boxes and operator circles: a label is either inside one or clear of it
        self.colours: set[str] = set()

    # -- primitives
    def text(
        self,
        x: float,
        y: float,
        label: str,
        *,
        size: float = SIZE,
        anchor: str = "middle",
        colour: str = INK,
        bold: bool = False,
        ident: str | None = None,
        cls: str | None = None,
        rotate: bool = False,
    ) -> Box:
        """``label`` centred vertically on ``y``; returns its (estimated) bounding box."""
        w = text_width(label, size, bold)
        x0 = {"start": x, "middle": x - w / 2, "end": x - w}[anchor]
        base = y + 0.36 * size
        attrs = [f'x="{_f(x)}"', f'y="{_f(base)}"']
        if anchor != "start":
            attrs.append(f'text-anchor="{anchor}"')
        if size != SIZE:
            attrs.append(f'font-size="{_f(size)}"')
        if colour != INK:
            attrs.append(f'fill="{colour}"')
        if bold:
            attrs.append('font-weight="bold"')
        if ident:
            attrs.append(f'id="{ident}"')
        if cls:
            attrs.append(f'class="{cls}"')
        if rotate:
            attrs.append(f'transform="rotate(-90 {_f(x)} {_f(y)})"')
        parts, shift = [], 0.0
        for run in parse(label):
            span = []
            if run.shift != shift:
                span.append(f'dy="{_f((run.shift - shift) * size)}"')
                shift = run.shift
            if run.scale != 1.0:
                span.append(f'font-size="{_f(size * run.scale)}"')
            if run.bold and not bold:
                span.append('font-weight="bold"')
            t = escape(run.text)
            parts.append(f"<tspan {' '.join(span)}>{t}</tspan>" if span else t)
        self.body.append(f"<text {' '.join(attrs)}>{''.join(parts)}</text>")
        has_sub = any(r.shift > 0 for r in parse(label))
        has_sup = any(r.shift < 0 for r in parse(label))
        top = y - 0.5 * size - (0.28 * size if has_sup else 0)
        bottom = y + 0.5 * size + (0.22 * size if has_sub else 0)
        box = Box(x0, top, w, bottom - top)
        if rotate:
            box = Box(x - box.h / 2, y - w / 2, box.h, w)
        self.labels.append((box, label))
        return box

    def rect(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        *,
        fill: str = NEUTRAL_FILL,
        stroke: str = BOX_EDGE,
        rx: float = 5,
        dash: bool = False,
        width: float = 1.3,
        opacity: float | None = None,
    ) -> Box:
        a = [f'x="{_f(x)}" y="{_f(y)}" width="{_f(w)}" height="{_f(h)}"']
        if rx:
            a.append(f'rx="{_f(rx)}"')
        a.append(f'fill="{fill}"')
        if opacity is not None:
            a.append(f'fill-opacity="{opacity:.2f}"')
        a.append(f'stroke="{stroke}"' if stroke != "none" else 'stroke="none"')
        if width != 1.3 and stroke != "none":
            a.append(f'stroke-width="{_f(width)}"')
        if dash:
            a.append('stroke-dasharray="5 3"')
        self.body.append(f"<rect {' '.join(a)}/>")
        return Box(x, y, w, h)

    def box(
        self,
        cx: float,
        cy: float,
        label: str,
        role: str | None = None,
        *,
        w: float | None = None,
        h: float = 26,
        size: float = SIZE,
        bold: bool = False,
        fill: str | None = None,
        dash: bool = False,
        ident: str | None = None,
        cls: str | None = None,
        opacity: float | None = None,
        text_colour: str = INK,
    ) -> Box:
        """A rounded box with a centred label; coloured by ``role`` (query/key/value/weights/output)."""
        lines = label.split("\n")
        need = max(text_width(s, size, bold) for s in lines) + 14
        w = need if w is None else w
        if w < need - 0.5:
            raise ValueError(
                f"{self.name}: label {label!r} needs {need:.0f} px, box is {w:.0f}"
            )
        h = max(h, len(lines) * size * 1.25 + 8)
        stroke = ROLE_COLOURS[role] if role else BOX_EDGE
        fill = fill or (tint(ROLE_COLOURS[role]) if role else NEUTRAL_FILL)
        b = self.rect(cx - w / 2, cy - h / 2, w, h, fill=fill, stroke=stroke, dash=dash, opacity=opacity,
                      width=1.6 if role else 1.3)  # fmt: skip
        self.shapes.append(b)
        step = size * 1.25
        for i, s in enumerate(lines):
            y = cy + (i - (len(lines) - 1) / 2) * step
            self.text(
                cx,
                y,
                s,
                size=size,
                bold=bold,
                ident=ident if i == 0 else None,
                cls=cls,
                colour=text_colour,
            )
        return b

    def _marker(self, colour: str) -> str:
        self.colours.add(colour)
        return f"url(#a{colour[1:]})"

    def path(
        self,
        *pts: tuple[float, float],
        role: str = "ink",
        head: bool = True,
        dash: bool = False,
        width: float = 1.5,
    ) -> None:
        colour = ROLE_COLOURS.get(role, role)
        d = " ".join(
            f"{'M' if i == 0 else 'L'}{_f(x)},{_f(y)}"
            for i, (x, y) in enumerate(pts)
        )
        a = [f'd="{d}"', 'fill="none"', f'stroke="{colour}"']
        if width != 1.5:
            a.append(f'stroke-width="{_f(width)}"')
        if dash:
            a.append('stroke-dasharray="4 3"')
        if head:
            a.append(f'marker-end="{self._marker(colour)}"')
        self.body.append(f"<path {' '.join(a)}/>")

    def arrow(
        self,
        *pts: tuple[float, float],
        role: str = "ink",
        dash: bool = False,
        width: float = 1.5,
    ) -> None:
        self.path(*pts, role=role, dash=dash, width=width)

    def line(
        self,
        *pts: tuple[float, float],
        role: str = "ink",
        dash: bool = False,
        width: float = 1.5,
    ) -> None:
        self.path(*pts, role=role, head=False, dash=dash, width=width)

    def dot(self, x: float, y: float, r: float = 2.6, role: str = "ink") -> None:
        self.body.append(
            f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(r)}" fill="{ROLE_COLOURS.get(role, role)}"/>'
        )

    def op(
        self,
        cx: float,
        cy: float,
        symbol: str,
        r: float = 10,
        role: str | None = None,
    ) -> Box:
        """A small circle with an operator (+, ×, Σ)."""
        stroke = ROLE_COLOURS[role] if role else BOX_EDGE
        self.body.append(
            f'<circle cx="{_f(cx)}" cy="{_f(cy)}" r="{_f(r)}" fill="{CARD}" stroke="{stroke}" stroke-width="1.4"/>'
        )
        self.text(cx, cy - 0.5, symbol, size=SIZE + 1)
        self.shapes.append(Box(cx - r, cy - r, 2 * r, 2 * r))
        return self.shapes[-1]

    def raw(self, svg: str) -> None:
        self.body.append(svg)

    # -- output
    def check(self) -> None:
        """Every label inside the canvas, and no two labels on top of each other."""
        for box, label in self.labels:
            if (
                box.l < 2
                or box.t < 2
                or box.r > WIDTH - 2
                or box.b > self.height - 2
            ):
                raise ValueError(
                    f"{self.name}: label {label!r} leaves the canvas: {box}"
                )
        for i, (a, la) in enumerate(self.labels):
            for b, lb in self.labels[i + 1 :]:
                if a.overlaps(b):
                    raise ValueError(
                        f"{self.name}: labels {la!r} and {lb!r} overlap: {a} / {b}"
                    )
        for a, label in self.labels:
            for b in self.shapes:
                inside = (
                    b.l <= a.l + 1
                    and a.r <= b.r + 1
                    and b.t <= a.t + 1
                    and a.b <= b.b + 1
                )
                if a.overlaps(b, pad=1.0) and not inside:
                    raise ValueError(
                        f"{self.name}: label {label!r} runs into a box: {a} / {b}"
                    )

    def svg(self) -> str:
        self.check()
        font = ", ".join(f"'{f}'" if " " in f else f for f in FONT_FAMILY)
        markers = "".join(
            f'<marker id="a{c[1:]}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6.5" markerHeight="6.5" '
            f'orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" fill="{c}"/></marker>'
            for c in sorted(self.colours)
        )
        h = _f(self.height)
        head = (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {h}" width="{WIDTH}" height="{h}" '
            f'role="img" aria-labelledby="title desc">\n'
            f'<title id="title">{escape(self.title)}</title>\n<desc id="desc">{escape(self.desc)}</desc>\n'
            f"<style>svg{{font-family:{font};font-size:{SIZE}px;fill:{INK}}}</style>\n"
            f"<defs>{markers}</defs>\n"
            f'<rect x="0.5" y="0.5" width="{WIDTH - 1}" height="{_f(self.height - 1)}" rx="10" fill="{CARD}" '
            f'stroke="{CARD_EDGE}"/>\n'
        )
        return head + "\n".join(self.body) + "\n</svg>\n"


# ----------------------------------------------------------------------------- shared pieces
def weight_bars(
    d: Diagram,
    x: float,
    ys: list[float],
    weights: list[float],
    length: float,
    h: float = 14,
) -> list[Box]:
    """Horizontal bars of attention weights, coloured with the explorers' colour map, value printed after."""
    top = max(weights) or 1.0
    boxes = []
    for y, w in zip(ys, weights, strict=True):
        d.rect(
            x,
            y - h / 2,
            length,
            h,
            fill="#f7f7f7",
            stroke="#cccccc",
            rx=2,
            width=0.8,
        )
        if w > 0:
            d.rect(
                x,
                y - h / 2,
                max(1.5, length * w / top),
                h,
                fill=weight_colour(w / top),
                stroke="none",
                rx=2,
            )
        boxes.append(
            d.text(x + length + 5, y, f"{w:.2f}", size=SMALL, anchor="start")
        )
    return boxes


# ----------------------------------------------------------------------------- chapter 1
def ch1_attention_pooling() -> Diagram:
    import torch

    keys = [1.0, 2.0, 3.0, 4.0]
    values = [10.0, 20.0, 30.0, 40.0]
    query, tau = 2.4, 0.5
    alpha = torch.softmax(
        -((query - torch.tensor(keys)) ** 2) / tau, dim=0
    ).tolist()  # chapter 1's toy lookup
    out = sum(a * v for a, v in zip(alpha, values, strict=True))

    row_h, top = 58, 92
    ys = [top + row_h * (i + 0.5) for i in range(4)]
    H = top + 4 * row_h + 56
    d = Diagram(
        "01-attention-pooling", H,
        "Attention pooling: a query scores every key, the weights average the values",
        "The query (the volitional cue) is compared with each key k_i (the non-volitional cues, what the inputs "
        "offer) by a score a(q, k_i); a softmax turns the scores into weights alpha_i that sum to one; the output "
        f"f(q) is the weighted sum of the values v_i. Numbers: chapter 1's toy lookup, q = {query}, keys 1 to 4, "
        f"values 10 to 40, temperature {tau}.",
    )  # fmt: skip
    for i, y in enumerate(ys):  # one band per input pair (k_i, v_i)
        d.rect(
            112,
            y - row_h / 2 + 3,
            WIDTH - 112 - 92,
            row_h - 6,
            fill="#f6f6f6",
            stroke="none",
            rx=6,
        )
        d.text(
            122, y + 19, f"input {i + 1}", size=10.5, anchor="start", colour=MUTED
        )
    # column headers
    d.text(60, 28, "volitional cue", size=SMALL, bold=True, colour=PALETTE["query"])
    d.text(60, 46, "(what we look for)", size=SMALL, colour=MUTED)
    d.text(
        190, 28, "non-volitional cues", size=SMALL, bold=True, colour=PALETTE["key"]
    )
    d.text(190, 46, "keys **k**_{i}: what inputs offer", size=SMALL, colour=MUTED)
    d.text(293, 70, "scores", size=SMALL, colour=MUTED)
    d.text(492, 70, "weights α_{i}", size=SMALL, colour=MUTED)
    d.text(612, 70, "values **v**_{i}", size=SMALL, colour=MUTED)
    # the query, tall on the left
    q = d.box(
        60,
        (ys[0] + ys[-1]) / 2,
        f"query\n**q** = {query}",
        "query",
        w=84,
        h=4 * row_h - 30,
    )
    score_x, key_x = 293, 175
    scores = []
    for i, y in enumerate(ys):
        k = d.box(key_x, y, f"**k**_{{{i + 1}}} = {keys[i]:g}", "key", w=78, h=22)
        s = d.box(score_x, y, f"a(**q**, **k**_{{{i + 1}}})", w=86, h=44)
        lane = y - 17
        d.arrow((q.r, lane), (s.l, lane), role="query")
        d.arrow((k.r, y + 4), (s.l, y + 4), role="key")
        scores.append(s)
    sm = d.box(
        392, (ys[0] + ys[-1]) / 2, "softmax", "weights", w=74, h=4 * row_h - 14
    )
    for s in scores:
        d.arrow((s.r, s.cy), (sm.l, s.cy))
    bars_x = 448
    weight_bars(d, bars_x, ys, alpha, 72)
    for y in ys:
        d.arrow((sm.r, y), (bars_x - 2, y), role="weights")
    sigma = d.op(WIDTH - 62, (ys[0] + ys[-1]) / 2, "Σ", r=12)
    for i, y in enumerate(ys):
        # each value box is shaded by its weight: what it contributes to the sum
        v = d.box(
            612,
            y,
            f"α_{{{i + 1}}} · **v**_{{{i + 1}}}",
            "value",
            w=74,
            h=24,
            opacity=0.25 + 0.75 * alpha[i] / max(alpha),
        )
        d.text(612, y + 19, f"v = {values[i]:g}", size=10.5, colour=MUTED)
        d.arrow(
            (v.r, y), (sigma.l + 2, sigma.cy + (y - sigma.cy) * 0.15), role="value"
        )
    o = d.box(
        sigma.cx, ys[-1] + row_h / 2 + 26, f"f(**q**) = {out:.1f}", "output", w=96
    )
    d.arrow((sigma.cx, sigma.b), (sigma.cx, o.t))
    d.text(WIDTH - 62, ys[0] - 12, "sum", size=SMALL, colour=MUTED)
    d.text(300, H - 22, "f(**q**) = Σ_{i} α(**q**, **k**_{i}) **v**_{i},   α = softmax(a / τ),   "
           f"a(q, k) = −(q − k)², τ = {tau:g}", size=SMALL)  # fmt: skip
    return d


# ----------------------------------------------------------------------------- chapter 2
def ch2_nadaraya_watson() -> Diagram:
    import torch

    from attnbook.kernels import gaussian

    xs = [0.3, 0.8, 1.3, 1.7, 2.1, 2.6, 2.9, 3.4, 3.9, 4.3, 4.7]
    ys_ = [2 * math.sin(x) + x**0.8 for x in xs]
    x_q, w = 2.45, 0.5
    k = gaussian(torch.tensor(xs) - x_q, w)  # K((x - x_i) / w)
    alpha = (k / k.sum()).tolist()
    f = sum(a * y for a, y in zip(alpha, ys_, strict=True))

    H = 372
    d = Diagram(
        "02-nadaraya-watson", H,
        "Nadaraya-Watson kernel regression as attention pooling",
        "Training pairs (x_i, y_i) are the keys and values; a new input x is the query. A Gaussian kernel of "
        f"width w = {w} centred on the query weighs each key by its distance; the normalised weights alpha_i "
        "(bars under the keys, darker = smaller) average the values y_i into the prediction f(x).",
    )  # fmt: skip
    X0, X1, Y0, Y1 = 50, 430, 40, 200  # plot area (y up)

    def px(x: float) -> float:
        return X0 + (X1 - X0) * x / 5

    def py(y: float) -> float:
        return Y1 - (Y1 - Y0) * (y + 0.5) / 5.5

    d.line((X0, Y1), (X1, Y1), role="muted", width=1)
    d.line((X0, Y0 - 10), (X0, Y1), role="muted", width=1)
    d.text(X0 - 8, Y0 - 4, "y", size=SMALL, colour=MUTED, anchor="end")
    # the kernel bump around the query
    curve = [
        (px(x / 20), 312 - 56 * math.exp(-0.5 * ((x / 20 - x_q) / w) ** 2))
        for x in range(101)
    ]
    d.raw('<path d="' + " ".join(f"{'M' if i == 0 else 'L'}{_f(a)},{_f(b)}" for i, (a, b) in enumerate(curve))
          + f'" fill="{tint(PALETTE["query"], 0.7)}" fill-opacity="0.6" stroke="{PALETTE["query"]}" stroke-width="1.4"/>')  # fmt: skip
    d.line((X0, 312), (X1, 312), role="muted", width=1)
    d.text(X1 + 4, 322, "x", size=SMALL, colour=MUTED, anchor="start")
    d.text(X0 - 6, 282, "K", size=SMALL, colour=PALETTE["query"], anchor="end")
    top = max(alpha)
    for x, y, a in zip(xs, ys_, alpha, strict=True):
        d.line((px(x), py(y)), (px(x), 312), role="#cccccc", width=0.8, dash=True)
        d.raw(f'<circle cx="{_f(px(x))}" cy="{_f(py(y))}" r="5" fill="{tint(PALETTE["value"], 0.5)}" '
              f'stroke="{PALETTE["value"]}" stroke-width="1.4"/>')  # fmt: skip
        d.raw(
            f'<rect x="{_f(px(x) - 5)}" y="{_f(Y1 + 8)}" width="10" height="10" fill="{tint(PALETTE["key"], 0.5)}" '
            f'stroke="{PALETTE["key"]}" stroke-width="1.4" transform="rotate(45 {_f(px(x))} {_f(Y1 + 13)})"/>'
        )
        bar = 40 * a / top
        d.rect(
            px(x) - 6,
            352 - bar,
            12,
            max(bar, 1),
            fill=weight_colour(a / top),
            stroke="none",
            rx=1,
        )
    d.line((X0, 352), (X1, 352), role="muted", width=1)
    d.text(X0 - 6, 338, "α", size=SMALL, colour=PALETTE["weights"], anchor="end")
    qx = px(x_q)
    d.line((qx, Y0 - 6), (qx, 312), role="query", width=1.6, dash=True)
    d.raw(
        f'<circle cx="{_f(qx)}" cy="{_f(py(f))}" r="6" fill="{tint(PALETTE["output"], 0.3)}" '
        f'stroke="{PALETTE["output"]}" stroke-width="2"/>'
    )
    d.text(
        qx + 10,
        py(f) - 12,
        "f(x)",
        size=SMALL,
        anchor="start",
        colour=PALETTE["output"],
        bold=True,
    )
    d.text(qx, Y0 - 16, "query x", size=SMALL, colour=PALETTE["query"], bold=True)
    # the legend-like explanation on the right
    R = 458
    rows = [
        ("key", "keys: the training inputs x_{i}"),
        ("value", "values: their targets y_{i}"),
        ("query", "query: the new input x"),
    ]
    y = 52
    for role, label in rows:
        d.rect(
            R,
            y - 7,
            14,
            14,
            fill=tint(ROLE_COLOURS[role]),
            stroke=ROLE_COLOURS[role],
            rx=3,
            width=1.6,
        )
        d.text(R + 22, y, label, anchor="start")
        y += 26
    d.box(
        R + 140,
        168,
        "α_{i} = K((x − x_{i}) / w) / Σ_{j} K((x − x_{j}) / w)",
        "weights",
        w=272,
        h=30,
        size=12,
    )
    d.box(R + 140, 214, "f(x) = Σ_{i} α_{i} y_{i}", "output", w=272, h=30, size=12)
    d.text(
        R,
        258,
        f"Gaussian kernel K(u) = exp(−u²/2), w = {w}:",
        size=SMALL,
        anchor="start",
    )
    d.text(
        R,
        278,
        "near keys get most of the weight, far ones",
        size=SMALL,
        anchor="start",
    )
    d.text(
        R, 296, "almost none (the bars under the keys).", size=SMALL, anchor="start"
    )
    d.text(
        R,
        330,
        "No trainable parameter: the data are the model",
        size=SMALL,
        anchor="start",
        colour=MUTED,
    )
    return d


# ----------------------------------------------------------------------------- chapter 3
def ch3_scoring_functions() -> Diagram:
    H = 330
    d = Diagram(
        "03-scoring-functions", H,
        "Four scoring functions a(q, k) side by side",
        "Additive: W_q q and W_k k are added, passed through tanh and reduced to one number by w_v (hidden width "
        "d_a; q and k may differ in size). Dot product: q transposed times k, no parameters, sizes must match. "
        "Scaled dot product: the same divided by the square root of d. Bilinear: q transposed W k, a learned "
        "d_q by d_k matrix between them.",
    )  # fmt: skip
    col = WIDTH / 4
    specs = [
        (
            "additive",
            "d_{a}(d_{q} + d_{k} + 1) parameters",
            "d_{q} ≠ d_{k} allowed",
        ),
        ("dot product", "no parameters", "needs d_{q} = d_{k}"),
        ("scaled dot product", "no parameters", "needs d_{q} = d_{k}"),
        ("bilinear", "d_{q} d_{k} parameters", "d_{q} ≠ d_{k} allowed"),
    ]
    yq, yscore = 70, 248
    for i, (name, params, sizes) in enumerate(specs):
        cx = col * (i + 0.5)
        if i:
            d.line((col * i, 24), (col * i, H - 18), role="#e0e0e0", width=1)
        d.text(cx, 24, name, size=TITLE, bold=True)
        q = d.box(cx - 36, yq, "**q**", "query", w=34)
        k = d.box(cx + 36, yq, "**k**", "key", w=34)
        s = d.box(cx, yscore, "a(**q**, **k**)", "weights", w=96)
        if name == "additive":
            wq = d.box(cx - 36, 114, "**W**_{q}", w=42)
            wk = d.box(cx + 36, 114, "**W**_{k}", w=42)
            d.arrow((q.cx, q.b), (q.cx, wq.t), role="query")
            d.arrow((k.cx, k.b), (k.cx, wk.t), role="key")
            plus = d.op(cx, 150, "+")
            d.arrow((wq.cx, wq.b), (wq.cx, plus.cy), (plus.l, plus.cy))
            d.arrow((wk.cx, wk.b), (wk.cx, plus.cy), (plus.r, plus.cy))
            th = d.box(cx, 184, "tanh", w=56, h=22)
            d.arrow((cx, plus.b), (cx, th.t))
            wv = d.box(cx, 216, "**w**_{v}^{⊤} ·", w=56, h=22)
            d.arrow((cx, th.b), (cx, wv.t))
            d.arrow((cx, wv.b), (cx, s.t))
        else:
            label = {"dot product": "**q**^{⊤}**k**", "scaled dot product": "**q**^{⊤}**k**",
                     "bilinear": "**q**^{⊤} **W** **k**"}[name]  # fmt: skip
            m = d.box(cx, 140, label, w=84, h=30)
            d.arrow((q.cx, q.b), (q.cx, m.t), role="query")
            d.arrow((k.cx, k.b), (k.cx, m.t), role="key")
            if name == "scaled dot product":
                sc = d.box(cx, 194, "÷ √d", w=56, h=24)
                d.arrow((cx, m.b), (cx, sc.t))
                d.arrow((cx, sc.b), (cx, s.t))
            else:
                d.arrow((cx, m.b), (cx, s.t))
        d.text(cx, 284, params, size=SMALL, colour=MUTED)
        d.text(cx, 304, sizes, size=SMALL, colour=MUTED)
    return d


def ch3_masking() -> Diagram:
    import torch

    from attnbook import masked_softmax

    scores = torch.tensor([[[0.4, 1.3, -0.2, 0.9, 2.1, 0.6]]])
    valid = 4
    weights = masked_softmax(scores, torch.tensor([valid]))[0, 0].tolist()
    n = scores.shape[-1]
    H = 250
    d = Diagram(
        "03-masking", H,
        "Masking: padded keys get weight exactly zero",
        f"One query over {n} key positions of which the first valid_lens = {valid} are real and the last "
        f"{n - valid} are padding. The padded scores are left out of the softmax (drawn grey), so the padded keys "
        f"get weight 0 and the {valid} real weights sum to one. Weights computed by attnbook.masked_softmax.",
    )  # fmt: skip
    x0, cw = 170, 78
    rows = [
        (64, "keys"),
        (118, "scores a(**q**, **k**_{i})"),
        (200, "weights α_{i}"),
    ]
    for y, label in rows:
        d.text(x0 - 12, y, label, anchor="end")
    for i in range(n):
        cx = x0 + cw * (i + 0.5)
        pad = i >= valid
        d.box(cx, 64, "pad" if pad else f"**k**_{{{i + 1}}}", None if pad else "key", w=cw - 12,
              fill=MASKED if pad else None, dash=pad)  # fmt: skip
        d.box(
            cx,
            118,
            f"{scores[0, 0, i]:.1f}",
            w=cw - 12,
            fill=MASKED if pad else "#ffffff",
            dash=pad,
        )
        x = weights[i] / max(weights)
        d.box(cx, 200, f"{weights[i]:.2f}", w=cw - 12, h=30, fill=MASKED if pad else weight_colour(x),
              text_colour=INK if pad else on_weight(x), ident=f"weight-{i}")  # fmt: skip
        d.arrow((cx, 131), (cx, 146), role="muted" if pad else "ink")
        d.arrow((cx, 170), (cx, 185), role="muted" if pad else "weights")
    sm = d.box(x0 + cw * valid / 2, 158, f"softmax over the {valid} real keys", "weights", w=cw * valid - 12, h=24,
               size=SMALL)  # fmt: skip
    pad_x = x0 + cw * (valid + (n - valid) / 2)
    d.box(
        pad_x,
        158,
        "left out",
        w=cw * (n - valid) - 12,
        h=24,
        size=SMALL,
        fill=MASKED,
        dash=True,
    )
    d.line(
        (x0 + cw * valid, 40),
        (x0 + cw * valid, 218),
        role="#999999",
        dash=True,
        width=1.2,
    )
    d.text(x0 + cw * valid, 28, f"valid_lens = {valid}", size=SMALL, colour=MUTED)
    d.text(sm.cx, 232, f"sum = {sum(weights[:valid]):.2f}", size=SMALL)
    d.text(pad_x, 232, "weight 0, never NaN", size=SMALL, colour=MUTED)
    return d


# ----------------------------------------------------------------------------- chapter 4
def _rnn_row(
    d: Diagram,
    xs: list[float],
    y: float,
    labels: list[str],
    role: str | None,
    w: float = 48,
) -> list[Box]:
    boxes = [
        d.box(x, y, lab, role, w=w, h=28) for x, lab in zip(xs, labels, strict=True)
    ]
    for a, b in itertools.pairwise(boxes):
        d.arrow((a.r, y), (b.l, y))
    return boxes


def ch4_seq2seq() -> Diagram:
    H = 452
    d = Diagram(
        "04-seq2seq", H,
        "Encoder-decoder without and with attention",
        "Top: the GRU encoder reads x_1..x_S into states h_1..h_S; only the last one, h_S, reaches the decoder, "
        "as its first state and as the same context c at every step. Bottom: with attention, all encoder states "
        "are kept as keys and values, and every decoder step t gets its own context c_t, a weighted average of "
        "them whose weights depend on the previous decoder state s_{t-1} (the query).",
    )  # fmt: skip
    enc_x = [62, 134, 206, 278]
    dec_x = [480, 574, 668]
    for top, with_att in ((0, False), (222, True)):
        title = (
            "with attention (Bahdanau et al.)"
            if with_att
            else "without attention (Cho et al., Sutskever et al.)"
        )
        d.text(16, top + 20, title, size=TITLE, bold=True, anchor="start")
        y = top + 78
        hs = _rnn_row(
            d,
            enc_x,
            y,
            ["**h**_{1}", "**h**_{2}", "**h**_{3}", "**h**_{S}"],
            "key" if with_att else None,
        )
        d.text(170, top + 46, "encoder (GRU)", size=SMALL, colour=MUTED)
        for x, b, lab in zip(
            enc_x, hs, ["x_{1}", "x_{2}", "x_{3}", "x_{S}"], strict=True
        ):
            t = d.text(x - 10, y + 60, lab, size=SMALL)
            d.arrow((x - 10, t.t - 1), (x - 10, b.b))
        ss = _rnn_row(d, dec_x, y, ["**s**_{1}", "**s**_{2}", "**s**_{3}"], None)
        d.arrow((hs[-1].r, y), (ss[0].l, y))
        d.text(380, y - 12, "initial state", size=SMALL, colour=MUTED)
        d.text(574, top + 28, "decoder (GRU)", size=SMALL, colour=MUTED)
        for x, b, lab in zip(dec_x, ss, ["⟨bos⟩", "y_{1}", "y_{2}"], strict=True):
            t = d.text(x + 12, y + 60, lab, size=SMALL)
            d.arrow((x + 12, t.t - 1), (x + 12, b.b))
        for b, lab in zip(ss, ["y_{1}", "y_{2}", "y_{3}"], strict=True):
            t = d.text(b.r + 16, b.t - 14, lab, size=SMALL, bold=True)
            d.arrow((b.r - 6, b.t), (t.l, t.cy + 2))
        bus = y + 96
        if not with_att:
            c = d.box(380, bus, "**c** = **h**_{S}", w=78, h=24)
            d.arrow((380, y), (380, c.t))
            d.dot(380, y)
            for b in ss:
                d.arrow((c.r, bus), (b.cx - 12, bus), (b.cx - 12, b.b))
            d.text(
                574,
                bus + 24,
                "the same **c** at every step",
                size=SMALL,
                colour=MUTED,
            )
        else:
            att = d.box(380, bus, "attention", "weights", w=86, h=26)
            for b in hs:
                d.line((b.cx + 12, b.b), (b.cx + 12, bus))
            d.arrow((hs[0].cx + 12, bus), (att.l, bus), role="key")
            d.text(
                170,
                bus + 22,
                "all **h**_{j}: keys and values",
                size=SMALL,
                colour=PALETTE["key"],
            )
            for j, b in enumerate(ss):
                d.arrow(
                    (att.r, bus), (b.cx - 12, bus), (b.cx - 12, b.b), role="value"
                )
                d.text(
                    b.cx - 30,
                    bus - 18,
                    f"**c**_{{{j + 1}}}",
                    size=SMALL,
                    colour=PALETTE["value"],
                )
            d.text(
                574,
                bus + 22,
                "query of step t: **s**_{t−1}",
                size=SMALL,
                colour=PALETTE["query"],
            )
    return d


def ch4_decoder_step() -> Diagram:
    H = 318
    d = Diagram(
        "04-decoder-step", H,
        "One decoder step of Bahdanau attention",
        "The previous decoder state s_{t-1} is the query; the encoder states h_1..h_S are the keys and the values. "
        "Additive scores a(s_{t-1}, h_j) go through a masked softmax to weights alpha_tj, whose weighted sum of "
        "the h_j is the context c_t. The embedding of the previous token y_{t-1} is concatenated with c_t, "
        "[e(y_{t-1}); c_t], as the GRU's input; the GRU turns s_{t-1} into s_t, and a linear layer gives the "
        "scores of the next token y_t.",
    )  # fmt: skip
    ys = [58, 100, 142, 184]
    labels = ["**h**_{1}", "**h**_{2}", "**h**_{3}", "**h**_{S}"]
    d.text(70, 24, "encoder states", size=SMALL, colour=MUTED)
    alpha = [
        0.08,
        0.66,
        0.2,
        0.06,
    ]  # an illustration: one step that looks mostly at position 2
    q = d.box(70, 262, "**s**_{t−1}", "query", w=58, h=30)
    d.text(70, 294, "query", size=SMALL, colour=PALETTE["query"], bold=True)
    scores = []
    for y, lab in zip(ys, labels, strict=True):
        h_ = d.box(70, y, lab, "key", w=48, h=28)
        s = d.box(200, y, f"a(**s**_{{t−1}}, {lab})", w=112, h=28, size=12)
        d.arrow((h_.r, y), (s.l, y), role="key")
        scores.append(s)
    d.text(200, 24, "additive score", size=SMALL, colour=MUTED)
    for y in ys:
        d.arrow((132, y + 9), (144, y + 9), role="query")
        d.dot(132, y + 9, role="query")
    d.line((q.r, q.cy), (132, q.cy), role="query")
    d.line((132, q.cy), (132, ys[0] + 9), role="query")
    sm = d.box(
        304,
        (ys[0] + ys[-1]) / 2,
        "masked\nsoftmax",
        "weights",
        w=70,
        h=ys[-1] - ys[0] + 28,
        size=12,
    )
    for s in scores:
        d.arrow((s.r, s.cy), (sm.l, s.cy))
    d.text(385, 24, "weights α_{tj}", size=SMALL, colour=MUTED)
    weight_bars(d, 350, ys, alpha, 44)
    sigma = d.op(470, (ys[0] + ys[-1]) / 2, "Σ", r=12)
    for y in ys:
        d.arrow(
            (432, y),
            (sigma.l + 1, sigma.cy + (y - sigma.cy) * 0.2),
            role="weights",
            width=1.2,
        )
    d.text(540, sigma.cy - 30, "Σ_{j} α_{tj} **h**_{j}", size=SMALL, colour=MUTED)
    c = d.box(540, sigma.cy, "**c**_{t}", "value", w=40, h=28)
    d.arrow((sigma.r, sigma.cy), (c.l, c.cy), role="value")
    d.text(540, sigma.cy + 26, "context", size=SMALL, colour=MUTED)
    e = d.box(540, 262, "**e**(y_{t−1})", w=86, h=28)
    d.text(540, 238, "previous token", size=SMALL, colour=MUTED)
    cat = d.box(640, 198, "[**e**(y_{t−1}); **c**_{t}]", w=124, h=28, size=12)
    d.arrow((e.r, e.cy), (598, e.cy), (598, cat.b))
    d.arrow((c.r, c.cy), (598, c.cy), (598, cat.t))
    gru = d.box(640, 262, "GRU", w=60, h=28, bold=True)
    d.arrow((cat.cx + 20, cat.b), (cat.cx + 20, gru.t))
    d.text(682, 226, "input", size=SMALL, colour=MUTED, anchor="start")
    st = d.box(640, 122, "**s**_{t}", w=44, h=28)
    d.arrow((gru.r, gru.cy), (722, gru.cy), (722, st.cy), (st.r, st.cy))
    d.text(736, 196, "new state", size=SMALL, colour=MUTED, rotate=True)
    out = d.box(640, 58, "linear → y_{t}", w=104, h=28)
    d.arrow((st.cx, st.t), (st.cx, out.b))
    d.arrow(
        (q.l, q.cy),
        (28, q.cy),
        (28, 308),
        (620, 308),
        (620, gru.b),
        role="query",
        width=1.2,
    )
    d.text(
        330, 298, "previous state **s**_{t−1}", size=SMALL, colour=PALETTE["query"]
    )
    return d


# ----------------------------------------------------------------------------- chapter 5
#: What each shape label in the multi-head diagram says, symbol by symbol.
MHA_LABELS = {
    "queries": ("B", "n_q", "d"),
    "keys": ("B", "n_k", "d"),
    "split_q": ("B", "h", "n_q", "d_h"),
    "split_k": ("B", "h", "n_k", "d_h"),
    "weights": ("B", "h", "n_q", "n_k"),
    "heads": ("B", "h", "n_q", "d_h"),
    "merged": ("B", "n_q", "h·d_h"),
    "output": ("B", "n_q", "d"),
}


def _shape(symbols: tuple[str, ...]) -> str:
    return "(" + ", ".join(re.sub(r"_(\w)", r"_{\1}", s) for s in symbols) + ")"


def ch5_multihead() -> Diagram:
    H = 504
    d = Diagram(
        "05-multihead", H,
        "Multi-head attention with the tensor shapes of attnbook.MultiHeadAttention",
        "Queries (B, n_q, d), keys and values (B, n_k, d) are projected by W_q, W_k, W_v; split_heads reshapes each "
        "projection to (B, h, n, d_h) with d_h = d / h; every head runs scaled dot-product attention on its own "
        "slice (weights (B, h, n_q, n_k)); merge_heads concatenates the heads' outputs back to (B, n_q, h d_h) "
        "and W_o mixes them into the output (B, n_q, d).",
    )  # fmt: skip
    L = MHA_LABELS
    cols = {"query": 150, "key": 375, "value": 600}
    names = {"query": ("queries", "**W**_{q}", "split_q"), "key": ("keys", "**W**_{k}", "split_k"),
             "value": ("values", "**W**_{v}", "split_k")}  # fmt: skip
    for role, cx in cols.items():
        label, W, split = names[role]
        inp = d.box(cx, 36, label, role, w=96)
        d.text(cx + 58, 36, _shape(L["keys" if role != "query" else "queries"]), size=SMALL, anchor="start",
               ident=f"shape-{label}", cls="shape")  # fmt: skip
        proj = d.box(cx, 92, W, role, w=52, h=28)
        d.arrow((cx, inp.b), (cx, proj.t), role=role)
        sp = d.box(cx, 150, "split_heads", w=104, h=26, cls="code")
        d.arrow((cx, proj.b), (cx, sp.t), role=role)
        d.text(cx + 60, 180, _shape(L[split]), size=SMALL, anchor="start", ident=f"shape-{split}-{role}",
               cls="shape")  # fmt: skip
        d.arrow((cx, sp.b), (cx, 214), role=role)
    # the h heads, drawn as a stack of cards
    x0, x1, y0 = 70, 680, 214
    for i in (2, 1):
        d.rect(
            x0 + 8 * i,
            y0 - 8 * i,
            x1 - x0,
            130,
            fill="#f4f4f4",
            stroke="#bbbbbb",
            rx=8,
        )
    d.rect(x0, y0, x1 - x0, 130, fill="#fafafa", stroke=BOX_EDGE, rx=8)
    d.text(x1 - 12, y0 + 16, "head 1 of h", size=SMALL, colour=MUTED, anchor="end")
    d.text(
        x0 + 12,
        y0 + 16,
        "scaled dot-product attention, per head",
        size=SMALL,
        bold=True,
        anchor="start",
    )
    s = d.box(262, y0 + 60, "**Q**_{i} **K**_{i}^{⊤} / √d_{h}", w=150, h=30)
    d.arrow((cols["query"], y0), (cols["query"], s.cy), (s.l, s.cy), role="query")
    d.arrow((cols["key"], y0), (cols["key"], s.cy), (s.r, s.cy), role="key")
    sm = d.box(262, y0 + 106, "softmax → weights", "weights", w=150, h=26)
    d.arrow((s.cx, s.b), (s.cx, sm.t))
    d.text(
        sm.l - 8,
        y0 + 106,
        _shape(L["weights"]),
        size=SMALL,
        anchor="end",
        ident="shape-weights",
        cls="shape",
    )
    av = d.box(540, y0 + 106, "weights · **V**_{i}", "value", w=130, h=26)
    d.arrow((sm.r, sm.cy), (av.l, av.cy), role="weights")
    d.arrow((cols["value"], y0), (cols["value"], av.t), role="value")
    d.text(
        400,
        y0 + 44,
        "h heads in parallel, each on",
        size=SMALL,
        colour=MUTED,
        anchor="start",
    )
    d.text(
        400,
        y0 + 60,
        "its own d_{h} = d / h features",
        size=SMALL,
        colour=MUTED,
        anchor="start",
    )
    d.arrow((av.cx, y0 + 130), (av.cx, 380))
    d.text(
        av.cx + 14,
        362,
        _shape(L["heads"]),
        size=SMALL,
        anchor="start",
        ident="shape-heads",
        cls="shape",
    )
    mg = d.box(av.cx, 394, "merge_heads (concatenate)", w=206, h=28, cls="code")
    wo = d.box(av.cx, 456, "**W**_{o}", "output", w=52, h=28)
    d.arrow((av.cx, mg.b), (av.cx, wo.t))
    d.text(
        av.cx + 14,
        426,
        _shape(L["merged"]),
        size=SMALL,
        anchor="start",
        ident="shape-merged",
        cls="shape",
    )
    out = d.box(300, 456, "output", "output", w=80, h=28)
    d.arrow((wo.l, wo.cy), (out.r, out.cy), role="output")
    d.text(
        300, 486, _shape(L["output"]), size=SMALL, ident="shape-output", cls="shape"
    )
    return d


# ----------------------------------------------------------------------------- chapter 6
def ch6_cnn_rnn_attention() -> Diagram:
    H = 300
    d = Diagram(
        "06-cnn-rnn-self-attention", H,
        "Convolution, recurrence and self-attention compared by path length and sequential steps",
        "Six inputs x_1..x_6 at the bottom, outputs at the top. Convolution with kernel size k = 3: each layer "
        "widens the view by k - 1 positions, so x_1 reaches y_6 only after several layers, a path of O(n/k) "
        "layers, with O(1) sequential steps per layer. Recurrence: the state passes position by position, O(n) "
        "sequential steps and a path of length O(n). Self-attention: every output attends to every input, path "
        "length O(1) and O(1) sequential steps. The highlighted path joins x_1 to the last output.",
    )  # fmt: skip
    n, pw = 6, WIDTH / 3
    hl = PALETTE["query"]
    for p, (name, seq, path) in enumerate((("convolution (k = 3)", "O(1)", "O(n/k)"), ("recurrence (RNN)", "O(n)", "O(n)"),
                                            ("self-attention", "O(1)", "O(1)"))):  # fmt: skip
        x0 = p * pw
        if p:
            d.line((x0, 20), (x0, H - 20), role="#e0e0e0", width=1)
        d.text(x0 + pw / 2, 22, name, size=TITLE, bold=True)
        xs = [x0 + 30 + i * (pw - 60) / (n - 1) for i in range(n)]
        if p == 0:
            levels = [206, 160, 114, 68]
        elif p == 1:
            levels = [206, 137, 68]
        else:
            levels = [206, 68]
        for li, y in enumerate(levels):
            for i, x in enumerate(xs):
                if p == 1 and li == 1:
                    continue
                lab = (
                    f"x_{{{i + 1}}}"
                    if li == 0
                    else (f"y_{{{i + 1}}}" if li == len(levels) - 1 else "")
                )
                fill = (
                    tint(PALETTE["key"])
                    if li == 0
                    else ("#ffffff" if lab == "" else tint(PALETTE["output"]))
                )
                d.raw(
                    f'<circle cx="{_f(x)}" cy="{_f(y)}" r="11" fill="{fill}" stroke="{BOX_EDGE}" stroke-width="1.2"/>'
                )
                if lab:
                    d.text(x, y, lab, size=11)
        if p == 0:
            for lo, hi in itertools.pairwise(levels):
                for i, x in enumerate(xs):
                    for j in (i - 1, i, i + 1):
                        if 0 <= j < n:
                            d.line(
                                (x, lo - 11),
                                (xs[j], hi + 11),
                                role="#bbbbbb",
                                width=0.9,
                            )
            pts = [
                (xs[i], y) for i, y in enumerate(levels)
            ]  # each layer of k = 3 moves one position further
            for (ax, ay), (bx, by) in itertools.pairwise(pts):
                d.line((ax, ay - 11), (bx, by + 11), role=hl, width=2.4)
            d.text(
                x0 + pw / 2,
                248,
                "x_{1} reaches only y_{4} after 3 layers",
                size=SMALL,
                colour=MUTED,
            )
        elif p == 1:
            for i, x in enumerate(xs):
                d.line(
                    (x, levels[0] - 11),
                    (x, levels[-1] + 11),
                    role="#bbbbbb",
                    width=1,
                )
            d.line(
                (xs[0], levels[0] - 11), (xs[0], levels[1] + 8), role=hl, width=2.4
            )
            for a, b in itertools.pairwise(xs):
                d.raw(
                    f'<rect x="{_f(a - 8)}" y="{_f(levels[1] - 8)}" width="16" height="16" rx="3" fill="#ffffff" '
                    f'stroke="{BOX_EDGE}"/>'
                )
                d.arrow((a + 8, levels[1]), (b - 8, levels[1]), role=hl, width=2)
            d.raw(
                f'<rect x="{_f(xs[-1] - 8)}" y="{_f(levels[1] - 8)}" width="16" height="16" rx="3" fill="#ffffff" '
                f'stroke="{BOX_EDGE}"/>'
            )
            d.line(
                (xs[-1], levels[1] - 8),
                (xs[-1], levels[-1] + 11),
                role=hl,
                width=2.4,
            )
            d.text(
                x0 + pw / 2,
                248,
                "state passed one position at a time",
                size=SMALL,
                colour=MUTED,
            )
        else:
            for i, x in enumerate(xs):
                for j, x2 in enumerate(xs):
                    if not (i == 0 and j == n - 1):
                        d.line(
                            (x, levels[0] - 11),
                            (x2, levels[1] + 11),
                            role="#c8c8c8",
                            width=0.7,
                        )
            d.line(
                (xs[0], levels[0] - 11),
                (xs[-1], levels[1] + 11),
                role=hl,
                width=2.4,
            )
            d.text(
                x0 + pw / 2,
                248,
                "every output sees every input",
                size=SMALL,
                colour=MUTED,
            )
        d.text(x0 + pw / 2, 270, f"sequential steps {seq}", size=SMALL)
        d.text(
            x0 + pw / 2, 288, f"maximum path length {path}", size=SMALL, bold=True
        )
    return d


def ch6_sinusoidal() -> Diagram:
    from attnbook.positional import sinusoidal_table

    T, dm = 16, 16
    P = sinusoidal_table(T, dm)
    H = 372
    d = Diagram(
        "06-sinusoidal", H,
        "The sinusoidal position table: position by column, sin and cos pairs",
        f"The table P of attnbook.positional.sinusoidal_table for {T} positions (rows, top to bottom) and d = {dm} "
        "columns, coloured from -1 (dark) to 1 (yellow). Columns come in pairs (sin, cos) that share one "
        "frequency; the frequency falls from left to right, so the left columns change from row to row and the "
        "right ones hardly change.",
    )  # fmt: skip
    cw, ch = 24, 16
    x0, y0 = 150, 64
    for t in range(T):
        for j in range(dm):
            v = float(P[t, j])
            d.raw(
                f'<rect x="{x0 + j * cw}" y="{y0 + t * ch}" width="{cw}" height="{ch}" fill="{weight_colour((v + 1) / 2)}"/>'
            )
    d.raw(
        f'<rect x="{x0}" y="{y0}" width="{dm * cw}" height="{T * ch}" fill="none" stroke="{BOX_EDGE}"/>'
    )
    for i in range(dm // 2):
        cx = x0 + (2 * i + 1) * cw
        if i < dm // 2 - 1:  # a white rule between pairs
            d.line(
                (cx + cw, y0 - 4), (cx + cw, y0 + T * ch), role="#ffffff", width=1.5
            )
        d.text(cx - cw / 2, y0 - 12, "sin", size=10, colour=MUTED)
        d.text(cx + cw / 2, y0 - 12, "cos", size=10, colour=MUTED)
    d.text(
        x0 + dm * cw / 2,
        24,
        "column pairs (2i, 2i+1): one frequency ω_{i} = 10000^{−2i/d} each",
        size=SMALL,
    )
    for t in range(0, T, 3):
        d.text(
            x0 - 8, y0 + (t + 0.5) * ch, str(t), size=10, anchor="end", colour=MUTED
        )
    d.text(x0 - 40, y0 + T * ch / 2, "position t", size=SMALL, rotate=True)
    ya = y0 + T * ch + 22
    d.arrow((x0, ya), (x0 + dm * cw, ya), role="weights")
    d.text(x0 + dm * cw / 2, ya + 18, "lower frequencies to the right: fast-turning pairs left, slow ones right",
           size=SMALL, colour=PALETTE["weights"])  # fmt: skip
    # colour bar
    bx = x0 + dm * cw + 40
    for k in range(40):
        d.raw(
            f'<rect x="{bx}" y="{_f(y0 + T * ch - (k + 1) * T * ch / 40)}" width="14" height="{_f(T * ch / 40 + 0.3)}" '
            f'fill="{weight_colour(k / 39)}"/>'
        )
    d.text(bx + 20, y0 + 4, "+1", size=10, anchor="start")
    d.text(bx + 20, y0 + T * ch - 4, "−1", size=10, anchor="start")
    return d


# ----------------------------------------------------------------------------- chapter 7
def _sublayer(
    d: Diagram,
    cx: float,
    y: float,
    label: str,
    role: str | None = None,
    w: float = 170,
) -> Box:
    """An attention/FFN box followed by its Add & Norm box; returns the Add & Norm box."""
    b = d.box(cx, y, label, role, w=w, h=26)
    n = d.box(cx, y - 34, "Add & Norm", w=w, h=20, size=11.5, fill="#fff6d6")
    d.arrow((cx, b.t), (cx, n.b))
    return n


def ch7_transformer() -> Diagram:
    H = 470
    d = Diagram(
        "07-transformer", H,
        "The encoder-decoder Transformer (post-norm, as in the 2017 paper)",
        "Left, the encoder: L blocks of self-attention and a position-wise FFN, each followed by Add & Norm "
        "(residual connection, then LayerNorm). Right, the decoder: L blocks of causal self-attention, "
        "cross-attention whose queries come from the decoder and whose keys and values are the encoder's "
        "outputs (B, S, d), and the FFN; a linear layer gives the scores of the next token. Both stacks start "
        "from embeddings plus sinusoidal positional encodings.",
    )  # fmt: skip
    ex, dx = 200, 520
    d.rect(
        ex - 110, 196, 220, 184, fill="#fbfbfb", stroke="#aaaaaa", rx=10, dash=True
    )
    d.rect(
        dx - 110, 124, 220, 256, fill="#fbfbfb", stroke="#aaaaaa", rx=10, dash=True
    )
    d.text(ex - 120, 288, "× L", size=TITLE, bold=True, anchor="end")
    d.text(dx + 120, 140, "× L", size=TITLE, bold=True, anchor="start")
    d.text(ex, 112, "encoder", size=TITLE, bold=True)
    d.text(dx - 110, 30, "decoder", size=TITLE, bold=True, anchor="start")
    # encoder
    emb = d.box(ex, 420, "embedding + positions", w=180, h=26)
    d.text(ex, 452, "source tokens x_{1}..x_{S}", size=SMALL, colour=MUTED)
    n1 = _sublayer(d, ex, 346, "self-attention", "key")
    d.arrow((ex, emb.t), (ex, 359))
    n2 = _sublayer(d, ex, 256, "FFN")
    d.arrow((ex, n1.t), (ex, 269))
    mem = d.box(ex, 160, "encoder outputs (B, S, d)", "value", w=196, h=26)
    d.arrow((ex, n2.t), (ex, mem.b))
    # decoder
    demb = d.box(dx, 420, "embedding + positions", w=180, h=26)
    d.text(dx, 452, "target tokens so far y_{<t}", size=SMALL, colour=MUTED)
    m1 = _sublayer(d, dx, 346, "causal self-attention", "query")
    d.arrow((dx, demb.t), (dx, 359))
    m2 = _sublayer(d, dx, 256, "cross-attention", "weights")
    d.arrow((dx, m1.t), (dx, 269))
    d.text(
        dx - 16,
        286,
        "**Q**",
        size=SMALL,
        bold=True,
        colour=PALETTE["query"],
        anchor="end",
    )
    m3 = _sublayer(d, dx, 176, "FFN")
    d.arrow((dx, m2.t), (dx, 189))
    out = d.box(dx, 90, "linear → next-token scores", w=200, h=26)
    d.arrow((dx, m3.t), (dx, out.b))
    # K, V from the encoder into the cross-attention
    d.arrow(
        (mem.r, mem.cy - 4),
        (388, mem.cy - 4),
        (388, 250),
        (dx - 85, 250),
        role="key",
    )
    d.arrow(
        (mem.r, mem.cy + 4),
        (380, mem.cy + 4),
        (380, 262),
        (dx - 85, 262),
        role="value",
    )
    d.text(356, 232, "**K**, **V**", size=SMALL, bold=True, colour=PALETTE["key"])
    d.text(dx + 95, 250, "**Q**: decoder", size=SMALL, colour=MUTED, anchor="start")
    d.text(
        dx + 95,
        266,
        "**K**, **V**: encoder",
        size=SMALL,
        colour=MUTED,
        anchor="start",
    )
    d.text(
        dx + 95, 340, "position t sees", size=SMALL, colour=MUTED, anchor="start"
    )
    d.text(
        dx + 95, 356, "positions ≤ t only", size=SMALL, colour=MUTED, anchor="start"
    )
    d.text(
        ex - 106,
        60,
        "Add & Norm = LayerNorm(**x** + sublayer(**x**))",
        size=SMALL,
        anchor="start",
    )
    d.text(
        ex - 106,
        78,
        "(post-norm; pre-norm: next figure)",
        size=SMALL,
        colour=MUTED,
        anchor="start",
    )
    return d


def ch7_pre_post_norm() -> Diagram:
    H = 250
    d = Diagram(
        "07-pre-post-norm", H,
        "Post-norm and pre-norm residual sublayers",
        "Post-norm (Vaswani et al. 2017): x goes through the sublayer f, is added to itself, then LayerNorm: "
        "LN(x + f(x)). Pre-norm (Xiong et al. 2020): LayerNorm first, then f, then the addition: x + f(LN(x)); "
        "the residual path from input to output carries x unchanged.",
    )  # fmt: skip
    for cx, title, pre in (
        (190, "post-norm: LN(**x** + f(**x**))", False),
        (560, "pre-norm: **x** + f(LN(**x**))", True),
    ):
        d.text(cx, 22, title, size=TITLE, bold=True)
        x_in = d.text(cx, 228, "**x**", bold=True)
        if pre:
            ln = d.box(cx, 176, "LayerNorm", w=100, h=24, fill="#fff6d6")
            f = d.box(cx, 124, "f (attention or FFN)", w=150, h=26)
            plus = d.op(cx, 76, "+")
            d.arrow((cx, x_in.t), (cx, ln.b))
            d.arrow((cx, ln.t), (cx, f.b))
            d.arrow((cx, f.t), (cx, plus.b))
            d.arrow(
                (cx, 204),
                (cx + 110, 204),
                (cx + 110, 76),
                (plus.r, 76),
                role="output",
                width=2,
            )
            d.dot(cx, 204)
            d.arrow((cx, plus.t), (cx, 40))
            d.text(
                cx + 116,
                150,
                "residual",
                size=SMALL,
                colour=PALETTE["output"],
                anchor="start",
            )
        else:
            f = d.box(cx, 168, "f (attention or FFN)", w=150, h=26)
            plus = d.op(cx, 120, "+")
            ln = d.box(cx, 76, "LayerNorm", w=100, h=24, fill="#fff6d6")
            d.arrow((cx, x_in.t), (cx, f.b))
            d.arrow((cx, f.t), (cx, plus.b))
            d.arrow((cx, plus.t), (cx, ln.b))
            d.arrow(
                (cx, 204),
                (cx + 110, 204),
                (cx + 110, 120),
                (plus.r, 120),
                role="output",
                width=2,
            )
            d.dot(cx, 204)
            d.arrow((cx, ln.t), (cx, 40))
            d.text(
                cx + 116,
                162,
                "residual",
                size=SMALL,
                colour=PALETTE["output"],
                anchor="start",
            )
            d.text(
                cx - 90, 76, "every path", size=SMALL, colour=MUTED, anchor="end"
            )
            d.text(
                cx - 90, 92, "crosses LN", size=SMALL, colour=MUTED, anchor="end"
            )
    return d


def ch7_kv_cache() -> Diagram:
    H = 290
    t = 4
    d = Diagram(
        "07-kv-cache", H,
        "Decoding with a key-value cache",
        f"At decoding step t = {t} only the newest token is projected: its query q_{t} attends to the keys and "
        f"values of all steps 1..{t}. The keys and values of steps 1..{t - 1} come from the cache, the new key "
        f"and value are appended to it (per layer: (B, h, t, d_h)); nothing of the earlier steps is recomputed.",
    )  # fmt: skip
    x0, cw = 150, 70
    d.text(x0 - 14, 60, "keys", anchor="end", colour=PALETTE["key"], bold=True)
    d.text(x0 - 14, 100, "values", anchor="end", colour=PALETTE["value"], bold=True)
    d.text(
        x0 - 14, 200, "weights", anchor="end", colour=PALETTE["weights"], bold=True
    )
    alpha = [0.1, 0.15, 0.45, 0.3]  # an illustration
    for i in range(t):
        cx = x0 + cw * (i + 0.5)
        new = i == t - 1
        d.box(cx, 60, f"**k**_{{{i + 1}}}", "key", w=cw - 14, dash=new)
        d.box(cx, 100, f"**v**_{{{i + 1}}}", "value", w=cw - 14, dash=new)
        x = alpha[i] / max(alpha)
        d.box(
            cx,
            200,
            f"{alpha[i]:.2f}",
            w=cw - 14,
            h=24,
            fill=weight_colour(x),
            text_colour=on_weight(x),
            size=SMALL,
        )
        d.text(cx, 236, f"step {i + 1}", size=SMALL, colour=MUTED)
    d.rect(
        x0 - 4,
        38,
        cw * (t - 1) + 8,
        84,
        fill="none",
        stroke="#888888",
        rx=8,
        width=1.4,
    )
    d.text(
        x0 + cw * (t - 1) / 2,
        24,
        f"cache: steps 1..{t - 1}, kept",
        size=SMALL,
        bold=True,
    )
    d.text(x0 + cw * (t - 0.5), 24, "appended", size=SMALL, bold=True, colour=MUTED)
    nx = 620
    nt = d.box(nx, 60, f"new token y_{{{t - 1}}}", w=124, h=28)
    d.arrow((nt.l, 60), (x0 + cw * t - 5, 60), role="key")
    d.arrow(
        (nt.cx - 20, nt.b), (nt.cx - 20, 100), (x0 + cw * t - 5, 100), role="value"
    )
    q = d.box(nx, 150, f"**q**_{{{t}}}", "query", w=44)
    d.arrow((nt.cx + 20, nt.b), (nt.cx + 20, q.t), role="query")
    d.text(
        nx + 30,
        150,
        "one new query",
        size=SMALL,
        colour=PALETTE["query"],
        anchor="start",
    )
    d.arrow((q.l, q.cy), (x0 + cw * t + 8, q.cy), role="query")
    d.text(
        x0 + cw * t / 2,
        150,
        f"α = softmax(**q**_{{{t}}}^{{⊤}}**k**_{{j}} / √d_{{h}}), j = 1..{t}",
        size=SMALL,
    )
    out = d.text(nx, 200, "Σ_{j} α_{j} **v**_{j} → output", size=SMALL, bold=True)
    d.arrow((x0 + cw * t, 200), (out.l - 4, 200), role="weights")
    d.text(
        x0 + cw * t / 2,
        270,
        "cache per layer: (B, h, t, d_{h}), one more position each step",
        size=SMALL,
        colour=MUTED,
    )
    return d


# ----------------------------------------------------------------------------- chapter 8
def fmap(
    d: Diagram,
    x: float,
    y: float,
    w: float,
    h: float,
    depth: float,
    fill: str,
    label: str | None = None,
    stroke: str = BOX_EDGE,
) -> Box:
    """A feature map drawn as a box in perspective: front face at (x, y, w, h), ``depth`` up and to the right."""
    dd = depth * 0.6
    d.raw(f'<path d="M{_f(x)},{_f(y)} l{_f(dd)},{_f(-dd)} h{_f(w)} v{_f(h)} l{_f(-dd)},{_f(dd)} h{_f(-w)} z" '
          f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"/>')  # fmt: skip
    d.raw(
        f'<path d="M{_f(x)},{_f(y)} h{_f(w)} l{_f(dd)},{_f(-dd)} M{_f(x + w)},{_f(y)} v{_f(h)}" fill="none" '
        f'stroke="{stroke}" stroke-width="1.2"/>'
    )
    if label:
        d.text(x + w / 2 + dd / 2, y + h + 14, label, size=SMALL)
    return Box(x, y - dd, w + dd, h + dd)


def ch8_se() -> Diagram:
    H = 206
    d = Diagram(
        "08-se", H,
        "The squeeze-and-excitation block",
        "A feature map of C channels and H x W positions is squeezed by global average pooling to one number "
        "per channel (C); the excitation, FC (C to C/r), ReLU, FC (C/r to C) and sigmoid, turns these into C "
        "weights between 0 and 1, which scale the channels of the input.",
    )  # fmt: skip
    x_in = fmap(
        d, 20, 70, 40, 70, 50, tint(PALETTE["value"], 0.7), "**X**: C × H × W"
    )
    sq = d.box(170, 105, "global\navg pool", "key", w=80, h=40, size=12)
    d.text(170, 62, "squeeze", size=SMALL, bold=True, colour=PALETTE["key"])
    d.arrow((x_in.r + 4, 105), (sq.l, 105))
    z = d.box(246, 105, "C", w=30, h=52)
    d.text(246, 148, "**z**", size=SMALL)
    d.arrow((sq.r, 105), (z.l, 105))
    xs = [
        (318, "FC\nC→C/r", 60),
        (386, "ReLU", 50),
        (452, "FC\nC/r→C", 60),
        (524, "σ", 34),
    ]
    prev = z
    for cx, lab, w in xs:
        b = d.box(cx, 105, lab, "query", w=w, h=40, size=12)
        d.arrow((prev.r, 105), (b.l, 105))
        prev = b
    d.text(420, 62, "excitation", size=SMALL, bold=True, colour=PALETTE["query"])
    s = d.box(574, 105, "C", "weights", w=30, h=52, fill=weight_colour(0.8))
    d.text(574, 148, "**s** ∈ (0, 1)^{C}", size=SMALL)
    d.arrow((prev.r, 105), (s.l, 105))
    m = d.op(626, 105, "×")
    d.arrow((s.r, 105), (m.l, 105))
    d.text(626, 62, "scale", size=SMALL, bold=True)
    out = fmap(d, 664, 70, 40, 70, 50, tint(PALETTE["value"], 0.5), "C × H × W")
    d.arrow((m.r, 105), (out.l - 2, 105))
    d.arrow(
        (x_in.cx, 170),
        (x_in.cx, 186),
        (m.cx, 186),
        (m.cx, m.b),
        role="value",
        width=1.2,
    )
    d.text(
        340,
        178,
        "the input, channel c multiplied by s_{c}",
        size=SMALL,
        colour=MUTED,
    )
    return d


def ch8_cbam() -> Diagram:
    H = 330
    d = Diagram(
        "08-cbam", H,
        "CBAM: channel attention, then spatial attention",
        "Channel module: the feature map F (C x H x W) is average- and max-pooled over positions to two C-vectors, "
        "both go through one shared MLP, the results are added and passed through a sigmoid: M_c, one weight per "
        "channel, which scales F. Spatial module: the result is average- and max-pooled over channels at each "
        "position to two H x W maps, concatenated (2 x H x W), convolved by a 7 x 7 convolution (with BatchNorm "
        "in attnbook's default) and passed through a sigmoid: M_s, one weight per position.",
    )  # fmt: skip
    d.text(16, 22, "channel attention M_{c}", size=TITLE, bold=True, anchor="start")
    f = fmap(d, 20, 62, 40, 64, 60, tint(PALETTE["value"], 0.7), "**F**: C × H × W")
    avg = d.box(160, 64, "avg pool", "key", w=84, h=24, size=12)
    mx = d.box(160, 116, "max pool", "key", w=84, h=24, size=12)
    for b in (avg, mx):
        d.arrow((f.r + 4, 90), (106, 90), (106, b.cy), (b.l, b.cy))
    mlp = d.box(290, 90, "shared MLP\nC→C/r→C", "query", w=104, h=78, size=12)
    d.arrow((avg.r, avg.cy), (mlp.l, avg.cy))
    d.arrow((mx.r, mx.cy), (mlp.l, mx.cy))
    plus = d.op(380, 90, "+")
    d.arrow((mlp.r, 90), (plus.l, 90))
    sg = d.box(424, 90, "σ", "query", w=30, h=28)
    d.arrow((plus.r, 90), (sg.l, 90))
    mc = d.box(476, 90, "C", "weights", w=26, h=50, fill=weight_colour(0.8))
    d.text(476, 130, "**M**_{c}", size=SMALL)
    d.arrow((sg.r, 90), (mc.l, 90))
    m1 = d.op(530, 90, "×")
    d.arrow((mc.r, 90), (m1.l, 90))
    f2 = fmap(
        d, 574, 62, 40, 64, 60, tint(PALETTE["value"], 0.6), "**F**′: C × H × W"
    )
    d.arrow((m1.r, 90), (f2.l - 2, 90))
    d.line((f.cx, 150), (f.cx, 158), (m1.cx, 158), role="value", width=1.2)
    d.arrow((m1.cx, 158), (m1.cx, m1.b), role="value", width=1.2)
    # spatial
    y = 246
    d.text(
        16, 188, "spatial attention M_{s}", size=TITLE, bold=True, anchor="start"
    )
    d.arrow((f2.cx, 150), (f2.cx, 170), (40, 170), (40, y), (66, y))
    ca = d.box(124, y - 26, "avg over C", "key", w=104, h=24, size=12)
    cm = d.box(124, y + 26, "max over C", "key", w=104, h=24, size=12)
    for b in (ca, cm):
        d.arrow((66, y), (66, b.cy), (b.l, b.cy))
    cat = fmap(d, 214, y - 24, 16, 48, 40, tint(PALETTE["key"], 0.6))
    d.text(236, y + 44, "concat 2 × H × W", size=SMALL)
    d.arrow((ca.r, ca.cy), (212, ca.cy))
    d.arrow((cm.r, cm.cy), (212, cm.cy))
    conv = d.box(342, y, "7×7 conv\n(+ BN)", "query", w=86, h=44, size=12)
    d.arrow((cat.r + 4, y), (conv.l, y))
    sg2 = d.box(414, y, "σ", "query", w=30, h=28)
    d.arrow((conv.r, y), (sg2.l, y))
    ms = fmap(d, 456, y - 24, 8, 48, 40, weight_colour(0.8))
    d.text(480, y + 44, "**M**_{s}: 1 × H × W", size=SMALL)
    d.arrow((sg2.r, y), (ms.l - 2, y))
    m2 = d.op(560, y, "×")
    d.arrow((ms.r + 2, y), (m2.l, y))
    out = fmap(
        d, 630, y - 30, 40, 64, 56, tint(PALETTE["value"], 0.5), "**F**″: C × H × W"
    )
    d.arrow((m2.r, y), (out.l - 2, y))
    d.line(
        (f2.cx + 10, 150), (f2.cx + 10, 206), (m2.cx, 206), role="value", width=1.2
    )
    d.arrow((m2.cx, 206), (m2.cx, m2.t), role="value", width=1.2)
    return d


# ----------------------------------------------------------------------------- chapter 9
def ch9_vit() -> Diagram:
    H = 300
    d = Diagram(
        "09-vit", H,
        "The Vision Transformer pipeline",
        "An image (C x H x W) is cut into N = HW/p^2 patches of p x p pixels, each flattened and mapped by one "
        "shared linear layer (PatchEmbedding) to a d-vector; a learned class token is put in front and learned "
        "position embeddings are added, giving (B, N + 1, d). L pre-norm encoder blocks process the tokens; after a "
        "final LayerNorm, a linear head on the class token's output gives the class scores.",
    )  # fmt: skip
    # image as a 4 x 4 grid of patches
    x0, y0, s = 20, 70, 22
    for i in range(4):
        for j in range(4):
            shade = 0.55 + 0.4 * ((i * 3 + j * 5) % 7) / 7
            d.rect(x0 + j * s, y0 + i * s, s - 2, s - 2, fill=tint(PALETTE["key"], shade), stroke="#999999", rx=1,
                   width=0.8)  # fmt: skip
    d.text(x0 + 2 * s, y0 - 16, "image", size=SMALL, bold=True)
    d.text(x0 + 2 * s, y0 + 4 * s + 14, "C × H × W", size=SMALL)
    d.text(x0 + 2 * s, y0 + 4 * s + 30, "p × p patches", size=SMALL, colour=MUTED)
    # the sequence of patches
    sx, sy = 150, 190

    tok_w, gap = 44, 4
    n_show = 6
    lin = d.box(
        sx + 3.5 * (tok_w + gap),
        sy - 38,
        "linear embedding (PatchEmbedding)",
        w=270,
        h=26,
        cls="code",
    )
    d.arrow(
        (x0 + 4 * s + 6, y0 + 2 * s),
        (136, y0 + 2 * s),
        (136, lin.cy),
        (lin.l, lin.cy),
    )
    xs = [sx + (i + 1) * (tok_w + gap) + tok_w / 2 for i in range(n_show)]
    for i, x in enumerate(xs):
        lab = (
            "…"
            if i == n_show - 2
            else (
                f"**x**_{{p}}^{{{i + 1}}}**E**"
                if i < n_show - 2
                else "**x**_{p}^{N}**E**"
            )
        )
        d.box(x, sy, lab, "key", w=tok_w, h=28, size=11.5)
        d.arrow((x, lin.b), (x, sy - 14), role="key", width=1.2)
    cls = d.box(sx + tok_w / 2, sy, "cls", "output", w=tok_w, h=28, size=11.5)
    d.text(cls.cx, sy + 84, "class token", size=10.5, colour=PALETTE["output"])
    pos_y = sy + 58
    for i, x in enumerate([cls.cx, *xs]):
        lab = "…" if i == n_show - 1 else str(i if i < n_show - 1 else "N")
        d.box(x, pos_y, lab, w=tok_w, h=22, size=11, fill="#f3eefc")
        d.text(x, (sy + 14 + pos_y - 11) / 2 + 2, "+", size=12)
    d.text(sx - 4, pos_y, "positions **E**_{pos}", size=SMALL, anchor="end")
    d.text(
        sx + 3.5 * (tok_w + gap),
        pos_y + 26,
        "(B, N + 1, d)",
        size=SMALL,
        ident="shape-tokens",
        cls="shape",
    )
    # encoder
    ex = 570
    enc = d.box(
        ex, 136, "encoder block\nLN → MHA → +\nLN → MLP → +", w=150, h=70, size=12
    )
    d.text(ex + 90, 126, "× L", size=TITLE, bold=True, anchor="start")
    d.text(ex + 90, 150, "pre-norm", size=SMALL, colour=MUTED, anchor="start")
    d.arrow((xs[-1] + tok_w / 2 + 4, sy + 58), (ex, sy + 58), (ex, enc.b))
    ln = d.box(ex, 66, "LayerNorm", w=100, h=24, fill="#fff6d6")
    d.arrow((ex, enc.t), (ex, ln.b))
    head = d.box(
        ex, 26, "head on cls output → classes", "output", w=220, h=26, size=12
    )
    d.arrow((ex, ln.t), (ex, head.b))
    return d


DIAGRAMS: dict[str, Callable[[], Diagram]] = {
    "01-attention-pooling": ch1_attention_pooling,
    "02-nadaraya-watson": ch2_nadaraya_watson,
    "03-scoring-functions": ch3_scoring_functions,
    "03-masking": ch3_masking,
    "04-seq2seq": ch4_seq2seq,
    "04-decoder-step": ch4_decoder_step,
    "05-multihead": ch5_multihead,
    "06-cnn-rnn-self-attention": ch6_cnn_rnn_attention,
    "06-sinusoidal": ch6_sinusoidal,
    "07-transformer": ch7_transformer,
    "07-pre-post-norm": ch7_pre_post_norm,
    "07-kv-cache": ch7_kv_cache,
    "08-se": ch8_se,
    "08-cbam": ch8_cbam,
    "09-vit": ch9_vit,
}


if __name__ == "__main__":
    import sys

    out, failed = figures_dir(), 0
    for name, make in DIAGRAMS.items():
        if len(sys.argv) > 1 and name not in sys.argv[1:]:
            continue
        try:
            text = make().svg()
        except ValueError as e:
            print(f"FAILED {e}", file=sys.stderr)
            failed += 1
            continue
        (out / f"{name}.svg").write_text(text, encoding="utf-8")
        print(f"{name}.svg  {len(text.encode()) / 1024:.1f} KB", file=sys.stderr)
    sys.exit(1 if failed else 0)
