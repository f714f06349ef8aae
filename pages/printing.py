"""A4 pages for printing: drawn once as a list of shapes (text, boxes, rules, QR codes) in
points from the page's top left, then written as PDF (reportlab) or as an SVG document.

Text is measured with the font it is drawn in, DejaVu Sans (from npm, as Bootstrap is), which
draws the Welsh and Polish letters ("ŵ", "ł") PDF's built-in Helvetica has not; `fit` shrinks,
wraps and at last cuts text short with an ellipsis to keep it in its place."""

from __future__ import annotations

import functools
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import segno
from django.core import checks
from django.utils.html import escape
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from changeday.lib.fonts import static_font

PAGE_WIDTH, PAGE_HEIGHT = A4  # points: 210 x 297 mm
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
# Static names of settings.SERVER_FONTS: found in node_modules in development and among the
# collected static files on a node built for production (changeday.lib.fonts), as share images'.
FONT_FILES = {REGULAR: "vendor/fonts/DejaVuSans.ttf", BOLD: "vendor/fonts/DejaVuSans-Bold.ttf"}
# What an SVG viewer falls back to without DejaVu Sans: narrower faces, so the lines measured
# with DejaVu still fit.
SVG_FONTS = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"

BLUE = "#005eb8"
INK = "#212b32"
GREY = "#4c6272"
WHITE = "#ffffff"

# Quiet zone around a QR code, in modules: the standard's four.
QR_QUIET = 4


@functools.cache
def _fonts() -> None:
    # Registered once per process; reportlab embeds only the glyphs each document uses.
    for name, static_name in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(static_font(static_name))))


def fonts_check(**_: object) -> list[checks.CheckMessage]:
    """A Django system check: posters cannot be drawn without their fonts (share images fall
    back to Pillow's own; a PDF needs the font it measured with)."""
    missing = [static_name for static_name in FONT_FILES.values() if static_font(static_name) is None]
    if not missing:
        return []
    return [
        checks.Error(
            f"The posters' fonts are missing: {', '.join(missing)}.",
            hint="Run `make install` (npm ci, package.json has dejavu-fonts-ttf), then collectstatic "
            "for a node built for production.",
            id="pages.E001",
        )
    ]


def text_width(text: str, *, size: float, bold: bool = False) -> float:
    _fonts()
    return pdfmetrics.stringWidth(text, BOLD if bold else REGULAR, size)


# --- Shapes, in points from the page's top left ------------------------------------------


@dataclass(frozen=True)
class Text:
    x: float
    y: float  # the baseline
    text: str
    size: float
    bold: bool = False
    colour: str = INK


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    width: float
    height: float
    fill: str | None = None
    stroke: str | None = None
    line_width: float = 1.0


@dataclass(frozen=True)
class Rule:
    x1: float
    y1: float
    x2: float
    y2: float
    colour: str = GREY
    line_width: float = 0.75
    dashed: bool = False


@dataclass(frozen=True)
class Qr:
    """A QR code's dark modules at `module` points each, its top left corner at (x, y)."""

    x: float
    y: float
    module: float
    matrix: tuple[tuple[bool, ...], ...]

    @property
    def size(self) -> float:
        return self.module * len(self.matrix)

    def runs(self) -> Iterator[tuple[int, int, int]]:
        """(row, first column, length) of each horizontal run of dark modules: one rectangle
        each, far fewer than one per module."""
        for row, cells in enumerate(self.matrix):
            column = 0
            while column < len(cells):
                if cells[column]:
                    start = column
                    while column < len(cells) and cells[column]:
                        column += 1
                    yield row, start, column - start
                else:
                    column += 1


Shape = Text | Box | Rule | Qr


@dataclass(frozen=True)
class Document:
    title: str
    pages: list[list[Shape]]


@functools.lru_cache(maxsize=256)
def qr_matrix(url: str) -> tuple[tuple[bool, ...], ...]:
    # A full QR code (never a Micro QR, which phones' cameras do not read), error correction
    # M raised where the size allows: a poster gets creased and written on.
    code = segno.make_qr(url, error="m", boost_error=True)
    return tuple(tuple(bool(cell) for cell in row) for row in code.matrix_iter(scale=1, border=0))


def qr_shapes(url: str, *, x: float, y: float, size: float) -> list[Shape]:
    """The code filling a square of `size` points at (x, y), its white quiet zone around it."""
    matrix = qr_matrix(url)
    module = size / len(matrix)
    quiet = QR_QUIET * module
    return [
        Box(x - quiet, y - quiet, size + 2 * quiet, size + 2 * quiet, fill=WHITE),
        Qr(x, y, module, matrix),
    ]


# --- Fitting text to its place -----------------------------------------------------------


def _split_word(word: str, *, size: float, bold: bool, width: float) -> list[str]:
    """A word wider than the line (a long address, a name without spaces), cut into pieces that fit."""
    pieces: list[str] = []
    while word and text_width(word, size=size, bold=bold) > width:
        cut = len(word) - 1
        while cut > 1 and text_width(word[:cut], size=size, bold=bold) > width:
            cut -= 1
        # An address reads better broken after a slash or hyphen than inside a word.
        breaks = [index + 1 for index, char in enumerate(word[:cut]) if char in "/-"]
        if breaks and breaks[-1] < cut and breaks[-1] > cut // 2:
            cut = breaks[-1]
        pieces.append(word[:cut])
        word = word[cut:]
    return [*pieces, word] if word else pieces


def wrap(text: str, *, size: float, width: float, bold: bool = False) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split():
        for piece in _split_word(word, size=size, bold=bold, width=width):
            candidate = f"{line} {piece}" if line else piece
            if line and text_width(candidate, size=size, bold=bold) > width:
                lines.append(line)
                line = piece
            else:
                line = candidate
    if line:
        lines.append(line)
    return lines


LEADING = 1.22


def fit(
    text: str,
    *,
    width: float,
    largest: float,
    smallest: float,
    max_lines: int,
    max_height: float | None = None,
    bold: bool = False,
) -> tuple[float, list[str]]:
    """The largest size from `largest` down to `smallest` at which `text` wraps into at most
    `max_lines` lines (and no more than `max_height` points of them); at the smallest, the
    lines that fit, the last ending in an ellipsis."""
    size = largest
    while True:
        allowed = max_lines if max_height is None else min(max_lines, int(max_height // (size * LEADING)))
        lines = wrap(text, size=size, width=width, bold=bold)
        if len(lines) <= allowed:
            return size, lines
        if size - 1 < smallest:
            break
        size -= 1
    lines = lines[: max(allowed, 1)]
    last = lines[-1]
    while last and text_width(f"{last}…", size=size, bold=bold) > width:
        last = last[:-1]
    lines[-1] = f"{last.rstrip()}…"
    return size, lines


def text_lines(
    lines: Sequence[str], *, x: float, top: float, size: float, bold: bool = False, colour: str = INK
) -> tuple[list[Shape], float]:
    """Lines set from `top` down; the shapes and where the next thing may start."""
    leading = size * LEADING
    shapes: list[Shape] = [
        Text(x, top + size * 0.95 + index * leading, line, size, bold=bold, colour=colour)
        for index, line in enumerate(lines)
    ]
    return shapes, top + len(lines) * leading


# --- Writing a document ------------------------------------------------------------------


def document_pdf(document: Document) -> bytes:
    _fonts()
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(document.title)
    canvas.setAuthor("changeday")
    canvas.setCreator("changeday")
    for shapes in document.pages:
        for shape in shapes:
            _pdf_shape(canvas, shape)
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def _pdf_shape(canvas: Canvas, shape: Shape) -> None:
    # PDF measures from the page's bottom left; the shapes from its top left.
    if isinstance(shape, Text):
        canvas.setFillColor(HexColor(shape.colour))
        canvas.setFont(BOLD if shape.bold else REGULAR, shape.size)
        canvas.drawString(shape.x, PAGE_HEIGHT - shape.y, shape.text)
    elif isinstance(shape, Box):
        if shape.fill:
            canvas.setFillColor(HexColor(shape.fill))
        if shape.stroke:
            canvas.setStrokeColor(HexColor(shape.stroke))
            canvas.setLineWidth(shape.line_width)
        bottom = PAGE_HEIGHT - shape.y - shape.height
        canvas.rect(
            shape.x,
            bottom,
            shape.width,
            shape.height,
            stroke=int(bool(shape.stroke)),
            fill=int(bool(shape.fill)),
        )
    elif isinstance(shape, Rule):
        canvas.setStrokeColor(HexColor(shape.colour))
        canvas.setLineWidth(shape.line_width)
        canvas.setDash(2, 2) if shape.dashed else canvas.setDash()
        canvas.line(shape.x1, PAGE_HEIGHT - shape.y1, shape.x2, PAGE_HEIGHT - shape.y2)
        canvas.setDash()
    else:
        path = canvas.beginPath()
        for row, column, length in shape.runs():
            top = PAGE_HEIGHT - shape.y - (row + 1) * shape.module
            path.rect(shape.x + column * shape.module, top, length * shape.module, shape.module)
        canvas.setFillColor(HexColor("#000000"))
        canvas.drawPath(path, stroke=0, fill=1)


def _n(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


def document_svg(document: Document) -> str:
    """The document's first page as a standalone SVG document, A4 at 1 unit a point."""
    shapes = document.pages[0]
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="210mm" height="297mm" '
        f'viewBox="0 0 {_n(PAGE_WIDTH)} {_n(PAGE_HEIGHT)}" role="img" aria-labelledby="poster-title">',
        f'<title id="poster-title">{escape(document.title)}</title>',
        f'<rect width="{_n(PAGE_WIDTH)}" height="{_n(PAGE_HEIGHT)}" fill="{WHITE}"/>',
        f'<g font-family="{escape(SVG_FONTS)}">',
    ]
    parts += [_svg_shape(shape) for shape in shapes]
    parts += ["</g>", "</svg>", ""]
    return "\n".join(parts)


def _svg_shape(shape: Shape) -> str:
    if isinstance(shape, Text):
        weight = ' font-weight="700"' if shape.bold else ""
        return (
            f'<text x="{_n(shape.x)}" y="{_n(shape.y)}" font-size="{_n(shape.size)}"{weight} '
            f'fill="{shape.colour}">{escape(shape.text)}</text>'
        )
    if isinstance(shape, Box):
        fill = shape.fill or "none"
        stroke = f' stroke="{shape.stroke}" stroke-width="{_n(shape.line_width)}"' if shape.stroke else ""
        return (
            f'<rect x="{_n(shape.x)}" y="{_n(shape.y)}" width="{_n(shape.width)}" '
            f'height="{_n(shape.height)}" fill="{fill}"{stroke}/>'
        )
    if isinstance(shape, Rule):
        dash = ' stroke-dasharray="2 2"' if shape.dashed else ""
        return (
            f'<line x1="{_n(shape.x1)}" y1="{_n(shape.y1)}" x2="{_n(shape.x2)}" y2="{_n(shape.y2)}" '
            f'stroke="{shape.colour}" stroke-width="{_n(shape.line_width)}"{dash}/>'
        )
    # One path in module units, scaled into place: M column row, then the run's outline.
    path = "".join(f"M{column} {row}h{length}v1h-{length}z" for row, column, length in shape.runs())
    return (
        f'<g class="qr-code" transform="translate({_n(shape.x)} {_n(shape.y)}) scale({shape.module:.4f})">'
        f'<path d="{path}" fill="#000000" shape-rendering="crispEdges"/></g>'
    )
