"""Print-ready posters and pledge cards: A4 pages drawn once as a list of shapes, then
written as PDF (reportlab) or SVG, with a QR code (segno) to the pledge form.

Each poster's QR code carries a source tag (pledges.sources) the stats page counts, and a
sector's or organisation's poster also ticks the sector or fills in the organisation on the
form (pledges.forms.pledge_prefill_read). Text is measured with the font it is drawn in
and shrunk, wrapped and at last cut short with an ellipsis to fit its place, so a
200-character organisation name still fits. DejaVu Sans (from npm, as Bootstrap is) draws
Welsh and Polish letters that PDF's built-in Helvetica has not: "ŵ", "ł"."""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.core import checks
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape
from reportlab.lib.colors import HexColor
from reportlab.lib.pagesizes import A4
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas

from campaigns.models import Campaign
from changeday.lib.mail import absolute_url
from organisations.models import Organisation
from pledges.models import SectorSlug
from pledges.sources import CAMPAIGN_POSTER, PLEDGE_CARD, source_for_organisation, source_for_sector

PAGE_WIDTH, PAGE_HEIGHT = A4  # points: 210 x 297 mm
MARGIN = 40.0

FONT_DIR = settings.BASE_DIR / "node_modules" / "dejavu-fonts-ttf" / "ttf"
REGULAR = "DejaVuSans"
BOLD = "DejaVuSans-Bold"
FONT_FILES = {REGULAR: "DejaVuSans.ttf", BOLD: "DejaVuSans-Bold.ttf"}
# What an SVG viewer falls back to without DejaVu Sans: narrower faces, so the lines measured
# with DejaVu still fit.
SVG_FONTS = "'DejaVu Sans', 'Liberation Sans', Arial, Helvetica, sans-serif"

BLUE = "#005eb8"
INK = "#212b32"
GREY = "#4c6272"
WHITE = "#ffffff"

# Quiet zone around a QR code, in modules: the standard's four.
QR_QUIET = 4

# Whom a sector's poster speaks to.
SECTOR_AUDIENCES = {
    SectorSlug.NHS: "Everyone in the NHS",
    SectorSlug.SOCIAL_CARE: "Everyone in social care",
    SectorSlug.HOUSING: "Everyone in housing",
    SectorSlug.PATIENT_CARER: "Patients and carers",
}

CARDS_PER_SHEET = 2
MAX_CARD_SHEETS = 50
MAX_CARD_NUMBER = 99_999


@functools.cache
def _fonts() -> None:
    # Registered once per process; reportlab embeds only the glyphs each document uses.
    for name, filename in FONT_FILES.items():
        pdfmetrics.registerFont(TTFont(name, str(FONT_DIR / filename)))


def fonts_check(**_: object) -> list[checks.CheckMessage]:
    """A Django system check: the posters' fonts come from node_modules, which a deployment
    that only collected the static files may have left behind."""
    missing = [filename for filename in FONT_FILES.values() if not (FONT_DIR / filename).is_file()]
    if not missing:
        return []
    return [
        checks.Error(
            f"The posters' fonts are missing from {FONT_DIR}: {', '.join(missing)}.",
            hint="Run `npm ci` (package.json has dejavu-fonts-ttf) where the site runs.",
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


def _qr(url: str, *, x: float, y: float, size: float) -> list[Shape]:
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


def _lines(
    lines: Sequence[str], *, x: float, top: float, size: float, bold: bool = False, colour: str = INK
) -> tuple[list[Shape], float]:
    """Lines set from `top` down; the shapes and where the next thing may start."""
    leading = size * LEADING
    shapes: list[Shape] = [
        Text(x, top + size * 0.95 + index * leading, line, size, bold=bold, colour=colour)
        for index, line in enumerate(lines)
    ]
    return shapes, top + len(lines) * leading


# --- What a poster says ------------------------------------------------------------------


@dataclass(frozen=True)
class PosterSubject:
    """Whom a poster speaks to: the whole campaign, one sector, or one organisation's staff."""

    sector: str = ""
    organisation: Organisation | None = None

    @property
    def source(self) -> str:
        if self.organisation is not None:
            return source_for_organisation(self.organisation)
        if self.sector:
            return source_for_sector(self.sector)
        return CAMPAIGN_POSTER

    @property
    def headline(self) -> str:
        if self.organisation is not None:
            return f"Everyone at {self.organisation.name.strip()}: make your pledge"
        if self.sector:
            return f"{SECTOR_AUDIENCES[SectorSlug(self.sector)]}: make your pledge"
        return "Make your pledge"

    @property
    def file_part(self) -> str:
        """What the downloaded file's name says after the campaign's slug."""
        if self.organisation is not None:
            return f"poster-{self.organisation.slug[:60]}"
        return f"poster-{self.sector}" if self.sector else "poster"


def pledge_form_url(campaign: Campaign, *, source: str, subject: PosterSubject | None = None) -> str:
    """The absolute address a QR code carries: the pledge form, ticking the sector or filling
    in the organisation, with the source tag last."""
    query: dict[str, str] = {}
    if subject is not None and subject.organisation is not None:
        query["org"] = subject.organisation.slug
    elif subject is not None and subject.sector:
        query["sector"] = subject.sector
    query["source"] = source
    return absolute_url(reverse("pledges:create", kwargs={"slug": campaign.slug})) + "?" + urlencode(query)


def poster_url(campaign: Campaign, subject: PosterSubject) -> str:
    return pledge_form_url(campaign, source=subject.source, subject=subject)


def last_pledging_day(campaign: Campaign) -> str:
    # A deadline at 00:00 on 1 April means "pledge until 31 March" (Campaign.days_left).
    day = timezone.localtime(campaign.deadline - timedelta(microseconds=1)).date()
    return f"{day:%A} {day.day} {day:%B %Y}"


def change_day_text(campaign: Campaign) -> str:
    day = campaign.change_day
    return f"{day:%A} {day.day} {day:%B %Y}"


def _band(campaign: Campaign) -> tuple[list[Shape], float]:
    """The blue band across the top: the campaign's name, its hashtag and dates."""
    width = PAGE_WIDTH - 2 * MARGIN
    size, lines = fit(f"#{campaign.hashtag}", width=width, largest=13, smallest=8, max_lines=2, bold=True)
    hashtag, y = _lines(lines, x=MARGIN, top=MARGIN - 12, size=size, bold=True, colour=WHITE)
    size, lines = fit(
        campaign.name, width=width, largest=40, smallest=18, max_lines=2, max_height=84, bold=True
    )
    name, y = _lines(lines, x=MARGIN, top=y + 6, size=size, bold=True, colour=WHITE)
    when: list[Shape] = []
    y += 4
    for line in (f"Pledge by {last_pledging_day(campaign)}", f"Change Day is {change_day_text(campaign)}"):
        shapes, y = _lines([line], x=MARGIN, top=y + 2, size=14, colour=WHITE)
        when += shapes
    bottom = y + 22
    return [Box(0, 0, PAGE_WIDTH, bottom, fill=BLUE), *hashtag, *name, *when], bottom


def _footer(campaign: Campaign, *, y: float) -> list[Shape]:
    who = f"Organised by {campaign.organiser_name}. " if campaign.organiser_name else ""
    wall = absolute_url(reverse("pledges:wall", kwargs={"slug": campaign.slug}))
    size, lines = fit(
        f"{who}Read everyone's pledges at {wall}",
        width=PAGE_WIDTH - 2 * MARGIN,
        largest=9,
        smallest=7,
        max_lines=2,
    )
    shapes, _ = _lines(lines, x=MARGIN, top=y, size=size, colour=GREY)
    return shapes


FOOTER_ROOM = 30.0
QR_SIZE = 190.0
TEAM_BOX_MIN = 140.0


def poster_document(campaign: Campaign, subject: PosterSubject) -> Document:
    """One A4 page: the band, whom it speaks to, the campaign's words, the QR code and the
    address to type, a box for a team to write its pledge, and who organises it."""
    width = PAGE_WIDTH - 2 * MARGIN
    shapes, y = _band(campaign)
    size, lines = fit(
        subject.headline, width=width, largest=30, smallest=12, max_lines=5, max_height=74, bold=True
    )
    headline, y = _lines(lines, x=MARGIN, top=y + 22, size=size, bold=True, colour=BLUE)
    shapes += headline
    size, lines = fit(campaign.description, width=width, largest=13, smallest=11, max_lines=3)
    words, y = _lines(lines, x=MARGIN, top=y + 10, size=size)
    shapes += words

    # The QR code, and beside it what to do with it.
    url = poster_url(campaign, subject)
    top = y + QR_QUIET * QR_SIZE / len(qr_matrix(url)) + 8
    shapes += _qr(url, x=MARGIN, y=top, size=QR_SIZE)
    side_x = MARGIN + QR_SIZE + 28
    side_width = PAGE_WIDTH - MARGIN - side_x
    size, lines = fit(
        "Scan with your phone's camera to make your pledge",
        width=side_width,
        largest=20,
        smallest=14,
        max_lines=3,
        bold=True,
    )
    scan, side_y = _lines(lines, x=side_x, top=top + 14, size=size, bold=True)
    lines = wrap("One promise, no matter how big or small. It takes a minute.", size=12, width=side_width)
    small, side_y = _lines(lines, x=side_x, top=side_y + 8, size=12)
    form = absolute_url(reverse("pledges:create", kwargs={"slug": campaign.slug}))
    typed, side_y = _lines(["Or type this address:"], x=side_x, top=side_y + 8, size=11, colour=GREY)
    size, lines = fit(form, width=side_width, largest=12, smallest=8, max_lines=4, bold=True)
    address, side_y = _lines(lines, x=side_x, top=side_y + 2, size=size, bold=True)
    shapes += [*scan, *small, *typed, *address]
    y = max(top + QR_SIZE, side_y) + 18

    # Room for a team to write its own pledge: whatever is left above the footer.
    bottom = PAGE_HEIGHT - MARGIN - FOOTER_ROOM
    height = max(bottom - y, TEAM_BOX_MIN)
    shapes.append(Box(MARGIN, y, width, height, stroke=BLUE, line_width=2))
    heading, line_y = _lines(
        ["Our team pledges to…"], x=MARGIN + 16, top=y + 14, size=18, bold=True, colour=BLUE
    )
    shapes += heading
    sign_off = y + height - 22
    line_y += 30
    while line_y < sign_off - 30:
        shapes.append(Rule(MARGIN + 16, line_y, MARGIN + width - 16, line_y, dashed=True))
        line_y += 30
    shapes += [
        Text(MARGIN + 16, sign_off, "Team:", 11, colour=GREY),
        Rule(MARGIN + 56, sign_off + 2, MARGIN + width * 0.62, sign_off + 2),
        Text(MARGIN + width * 0.66, sign_off, "Date:", 11, colour=GREY),
        Rule(MARGIN + width * 0.66 + 36, sign_off + 2, MARGIN + width - 16, sign_off + 2),
    ]
    shapes += _footer(campaign, y=PAGE_HEIGHT - MARGIN - FOOTER_ROOM + 12)
    title = f"{campaign.name}: {subject.headline}"
    return Document(title=title, pages=[shapes])


# --- Pledge cards ------------------------------------------------------------------------


def card_prefix(campaign: Campaign) -> str:
    """The short code before each card's number: the initials of the campaign's slug, with
    its numbers whole ("change-day-2027" makes CD2027)."""
    parts = [part for part in re.split(r"[-_]+", campaign.slug.upper()) if part]
    prefix = "".join(part if part.isdigit() else part[0] for part in parts)[:10]
    return prefix or "CARD"


def card_reference(campaign: Campaign, number: int) -> str:
    return f"{card_prefix(campaign)}-{number:04d}"


def _tick_box(
    x: float, y: float, label: str, *, size: float = 10, bold: bool = False
) -> tuple[list[Shape], float]:
    """A box to tick with its label after it; the shapes and where the label ends."""
    box = size + 2
    shapes: list[Shape] = [
        Box(x, y - box + 2, box, box, stroke=INK, line_width=1),
        Text(x + box + 5, y, label, size, bold=bold),
    ]
    return shapes, x + box + 5 + text_width(label, size=size, bold=bold)


def _write_on(x: float, y: float, label: str, end: float, *, size: float = 9) -> list[Shape]:
    """A label and the line to write on after it."""
    start = x + text_width(label, size=size) + 6
    return [Text(x, y, label, size, colour=GREY), Rule(start, y + 2, end, y + 2)]


CARD_HEIGHT = PAGE_HEIGHT / CARDS_PER_SHEET
CARD_MARGIN = 28.0
CARD_QR = 84.0


def _card(campaign: Campaign, *, top: float, reference: str) -> list[Shape]:
    """One pledge card, A5 across the sheet from `top`: what a pledge needs, to be typed in
    later by an organiser with the card's reference."""
    left, right = CARD_MARGIN, PAGE_WIDTH - CARD_MARGIN
    reference_size = 12
    reference_text = f"Card {reference}"
    reference_width = text_width(reference_text, size=reference_size, bold=True)
    shapes: list[Shape] = [Text(right - reference_width, top + 34, reference_text, reference_size, bold=True)]
    size, lines = fit(
        f"{campaign.name}: my pledge",
        width=right - left - reference_width - 16,
        largest=15,
        smallest=9,
        max_lines=1,
        bold=True,
    )
    shapes.append(Text(left, top + 34, lines[0], size, bold=True, colour=BLUE))

    # The promise, beside the QR code for those who would rather pledge on their phone.
    text_right = right - CARD_QR - 24
    shapes.append(Text(left, top + 62, "I pledge to…", 13, bold=True))
    y = top + 92
    for _ in range(5):
        shapes.append(Rule(left, y, text_right, y))
        y += 26
    shapes += _qr(pledge_form_url(campaign, source=PLEDGE_CARD), x=right - CARD_QR, y=top + 52, size=CARD_QR)
    for index, line in enumerate(wrap("Or pledge on your phone: scan me", size=8, width=CARD_QR)):
        shapes.append(Text(right - CARD_QR, top + 52 + CARD_QR + 16 + index * 10, line, 8, colour=GREY))

    middle = left + (right - left) / 2
    y = top + 222
    shapes += _write_on(left, y, "Name (as it should appear)", middle - 12)
    tick, _ = _tick_box(middle, y, "Show my pledge as anonymous", size=10)
    shapes += tick
    y += 30
    shapes += _write_on(left, y, "Role or job title", middle - 12)
    shapes += _write_on(middle, y, "Organisation", right)
    y += 30
    shapes += _write_on(left, y, "Region", middle - 12)
    shapes += _write_on(middle, y, "Email (optional)", right)
    y += 30
    shapes.append(Text(left, y, "My pledge touches:", 10, colour=GREY))
    x = left + text_width("My pledge touches:", size=10) + 10
    for label in SectorSlug.labels:
        tick, end = _tick_box(x, y, str(label), size=10)
        shapes += tick
        x = end + 16
    y += 24
    tick, _ = _tick_box(left, y, "This is a pledge for my team or organisation", size=10)
    shapes += tick
    y += 26
    tick, _ = _tick_box(left, y, "I agree my pledge may be shown publicly", size=11, bold=True)
    shapes += tick
    note = (
        "With your name (or 'anonymous'), role, organisation and region, on the campaign's wall. "
        "Your email is never shown in public: we use it only about your pledge. "
        f"No email? Leave it blank. Pledge by {last_pledging_day(campaign)}."
    )
    size, lines = fit(note, width=right - left, largest=8, smallest=7, max_lines=2)
    words, y = _lines(lines, x=left, top=y + 6, size=size, colour=GREY)
    shapes += words
    return shapes


def _cut_marks(y: float) -> list[Shape]:
    label = "✂ cut here"
    x = PAGE_WIDTH - CARD_MARGIN - text_width(label, size=7)
    return [
        Rule(0, y, PAGE_WIDTH, y, colour=GREY, line_width=0.5, dashed=True),
        Text(x, y - 3, label, 7, colour=GREY),
    ]


def cards_document(campaign: Campaign, *, first: int, sheets: int) -> Document:
    """`sheets` A4 pages of two A5 pledge cards, numbered from `first`, with a cut mark between."""
    pages: list[list[Shape]] = []
    number = first
    for _ in range(sheets):
        shapes: list[Shape] = []
        for slot in range(CARDS_PER_SHEET):
            shapes += _card(campaign, top=slot * CARD_HEIGHT, reference=card_reference(campaign, number))
            number += 1
        for slot in range(1, CARDS_PER_SHEET):
            shapes += _cut_marks(slot * CARD_HEIGHT)
        pages.append(shapes)
    return Document(title=f"{campaign.name}: pledge cards", pages=pages)


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
