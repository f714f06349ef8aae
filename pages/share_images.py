"""Share images: the 1200x630 picture a link preview shows (Open Graph, Twitter cards).

`share_image_render` is pure: a ShareCard of plain texts in, PNG bytes out. It knows nothing of
pledges or campaigns and reads no database; `pages.share_cards` builds the card and is the one
place that decides which words may appear on it (never an email address).

Letters come from Atkinson Hyperlegible, the typeface made for low vision, in the two files
fontsource splits it into (Latin, and Latin Extended for names such as Łukasz or Ștefan), then
DejaVu Sans for every other script. Each run of characters takes the first of those that has
them, so one pledge may mix them; a character none of them has is left out rather than drawn
as an empty box.
"""

from __future__ import annotations

import functools
import io
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from PIL import Image, ImageDraw, ImageFont

from changeday.lib.fonts import static_font

WIDTH, HEIGHT = 1200, 630
# Part of every image's name (pages.share_cards): bump it whenever the drawing changes, so each
# image is drawn again at a new address instead of browsers keeping the old look for a year.
RENDERER_VERSION = 1

Face = Literal["regular", "bold"]
_FONTS: dict[Face, tuple[str, ...]] = {
    "regular": (
        "vendor/fonts/atkinson-hyperlegible-latin-400-normal.woff",
        "vendor/fonts/atkinson-hyperlegible-latin-ext-400-normal.woff",
        "vendor/fonts/DejaVuSans.ttf",
    ),
    "bold": (
        "vendor/fonts/atkinson-hyperlegible-latin-700-normal.woff",
        "vendor/fonts/atkinson-hyperlegible-latin-ext-700-normal.woff",
        "vendor/fonts/DejaVuSans-Bold.ttf",
    ),
}

# The site's own colours (static/css/changeday.css).
_WHITE = "#ffffff"
_TEXT = "#212b32"
_SECONDARY = "#425563"
_BLUE = "#005eb8"
_DARK_BLUE = "#003087"
_PALE_GREY = "#f0f4f5"

_MARGIN = 72
_BAND = 16  # the strip of sector colours along the top
_BODY_TOP = 126
_FOOTER_TOP = 474
# The pledge's words: as large as fits between the lead and the footer, never below the smallest.
_WORDS_LARGEST, _WORDS_SMALLEST = 60, 30
_ELLIPSIS = "\N{HORIZONTAL ELLIPSIS}"
_CHIP_FONT: tuple[Face, int] = ("bold", 24)
_CHIP_HEIGHT, _CHIP_PAD, _CHIP_GAP = 44, 18, 12


@dataclass(frozen=True)
class Sector:
    label: str
    colour: str  # "#rrggbb", with white text on it at 4.5:1 or better


@dataclass(frozen=True)
class ShareCard:
    """Everything drawn, as plain text: `campaign` and `hashtag` (without "#") head it, `lead`
    ("I pledge to", or "") introduces `words`, `title` and `byline` sign it, `sectors` colour it."""

    campaign: str
    hashtag: str
    lead: str
    words: str
    title: str
    byline: str
    sectors: tuple[Sector, ...]


def share_image_render(card: ShareCard) -> bytes:
    """The card drawn as a 1200x630 PNG."""
    image = Image.new("RGB", (WIDTH, HEIGHT), _WHITE)
    draw = ImageDraw.Draw(image)
    _band(draw, card.sectors)
    _header(draw, card)
    _body(draw, card, top=_BODY_TOP, bottom=_FOOTER_TOP - 20)
    _footer(draw, card)
    out = io.BytesIO()
    # Not optimize=True: it triples the time for a file a few per cent smaller.
    image.save(out, format="PNG")
    return out.getvalue()


def _body(draw: ImageDraw.ImageDraw, card: ShareCard, *, top: int, bottom: int) -> None:
    """The lead and the words as one block, in the middle of the space between header and footer."""
    lead = _Setter("bold", 36)
    lead_height = lead.line_height + 8 if card.lead else 0
    setter, lines = _set_words(card.words, height=bottom - top - lead_height)
    y = top + (bottom - top - lead_height - len(lines) * setter.line_height) // 2
    if card.lead:
        _draw_line(draw, lead, _MARGIN, y, _fit(lead, card.lead, WIDTH - 2 * _MARGIN), _BLUE)
        y += lead_height
    for line in lines:
        _draw_line(draw, setter, _MARGIN, y, line, _TEXT)
        y += setter.line_height


# --- Fonts -------------------------------------------------------------------------------------


@functools.cache
def _font_paths(face: Face) -> tuple[str, ...]:
    found = [static_font(name) for name in _FONTS[face]]
    return tuple(str(path) for path in found if path is not None)


@functools.cache
def _font(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


# No font maps this noncharacter: what it draws is the font's "missing glyph" box.
_MISSING = "\uffff"


@functools.cache
def _missing_glyph(path: str) -> tuple[tuple[int, int], bytes]:
    drawn = _font(path, 32).getmask(_MISSING)
    return drawn.size, bytes(drawn)


@functools.lru_cache(maxsize=20_000)
def _has_glyph(path: str, char: str) -> bool:
    drawn = _font(path, 32).getmask(char)
    return (drawn.size, bytes(drawn)) != _missing_glyph(path)


def fonts_missing() -> list[str]:
    """The fonts that could not be found (a system check reports them)."""
    return [name for face in ("regular", "bold") for name in _FONTS[face] if static_font(name) is None]


@dataclass(frozen=True)
class _Run:
    text: str
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont


class _Setter:
    """Sets text in one face and size, each run of characters in the first font that has them."""

    def __init__(self, face: Face, size: int) -> None:
        self.paths = _font_paths(face)
        if self.paths:
            self.fonts = [_font(path, size) for path in self.paths]
        else:
            # Without the npm fonts (a system check says so) Pillow's own still draws the words.
            self.fonts = [ImageFont.load_default(size)]
        ascent, descent = self.fonts[0].getmetrics()
        self.ascent = ascent
        self.line_height = round((ascent + descent) * 1.12)

    def runs(self, text: str) -> Iterator[_Run]:
        if not self.paths:
            yield _Run(text, self.fonts[0])
            return
        current, chars = -1, []
        for char in text:
            # Stay in the current font while it has the character (spaces and punctuation join
            # the run around them, so a line in one script is one run its shaper sees whole).
            if current >= 0 and _has_glyph(self.paths[current], char):
                chars.append(char)
                continue
            found = next((i for i, path in enumerate(self.paths) if _has_glyph(path, char)), -1)
            if found < 0:
                continue
            if chars:
                yield _Run("".join(chars), self.fonts[current])
            current, chars = found, [char]
        if chars:
            yield _Run("".join(chars), self.fonts[current])

    def width(self, text: str) -> float:
        return sum(run.font.getlength(run.text) for run in self.runs(text))


def _draw_line(
    draw: ImageDraw.ImageDraw, setter: _Setter, x: float, top: float, text: str, fill: str
) -> None:
    baseline = top + setter.ascent
    for run in setter.runs(text):
        draw.text((x, baseline), run.text, font=run.font, fill=fill, anchor="ls")
        x += run.font.getlength(run.text)


# --- Lines ---------------------------------------------------------------------------------------


def plain(text: str) -> str:
    """One line of visible text: no control or invisible characters, single spaces."""
    kept = "".join(" " if char.isspace() else char for char in text if unicodedata.category(char)[0] != "C")
    return " ".join(kept.split())


def _fitting(setter: _Setter, text: str, width: float, *, after: str = "") -> int:
    """How many characters of `text` fit in `width` with `after` behind them, found by halves."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if setter.width(text[:middle].rstrip() + after) <= width:
            low = middle
        else:
            high = middle - 1
    return low


def _fit(setter: _Setter, text: str, width: float) -> str:
    """`text`, cut short with an ellipsis if it is wider than `width`."""
    text = plain(text)
    if setter.width(text) <= width:
        return text
    kept = _fitting(setter, text, width, after=_ELLIPSIS)
    return text[:kept].rstrip() + _ELLIPSIS if kept else ""


def _wrap(setter: _Setter, text: str, width: float) -> list[str]:
    """Lines no wider than `width`, broken between words; a word wider than a line on its own
    (a long number, a name with no spaces) is broken between its characters."""
    space = setter.width(" ")
    lines: list[str] = []
    line, line_width = "", 0.0
    for word in plain(text).split(" "):
        word_width = setter.width(word)
        if line and line_width + space + word_width <= width:
            line, line_width = f"{line} {word}", line_width + space + word_width
            continue
        if line:
            lines.append(line)
        while word_width > width:
            cut = max(1, _fitting(setter, word, width))
            lines.append(word[:cut])
            word = word[cut:]
            word_width = setter.width(word)
        line, line_width = word, word_width
    if line:
        lines.append(line)
    return lines


def _set_words(words: str, *, height: int) -> tuple[_Setter, list[str]]:
    """The largest size at which `words` fit in `height`, and their lines; at the smallest size,
    as many lines as fit with the last one cut short."""
    width = WIDTH - 2 * _MARGIN

    def attempt(size: int) -> tuple[_Setter, list[str]]:
        setter = _Setter("bold", size)
        return setter, _wrap(setter, words, width)

    def fits(found: tuple[_Setter, list[str]]) -> bool:
        return len(found[1]) * found[0].line_height <= height

    # Longer words need smaller letters: search the sizes by halves, largest first.
    sizes = list(range(_WORDS_LARGEST, _WORDS_SMALLEST - 1, -2))
    best = attempt(sizes[-1])
    if not fits(best):
        setter, lines = best
        room = max(1, height // setter.line_height)
        last = _fit(setter, " ".join(lines[room - 1 :]), width)
        if not last.endswith(_ELLIPSIS):
            last = _fit(setter, last + _ELLIPSIS, width)
        return setter, [*lines[: room - 1], last]
    low, high = 0, len(sizes) - 1
    while low < high:
        middle = (low + high) // 2
        found = attempt(sizes[middle])
        if fits(found):
            best, high = found, middle
        else:
            low = middle + 1
    return best


# --- The frame -----------------------------------------------------------------------------------


def _band(draw: ImageDraw.ImageDraw, sectors: tuple[Sector, ...]) -> None:
    colours = [sector.colour for sector in sectors] or [_BLUE]
    for i, colour in enumerate(colours):
        left, right = WIDTH * i // len(colours), WIDTH * (i + 1) // len(colours)
        draw.rectangle((left, 0, right, _BAND), fill=colour)


def _header(draw: ImageDraw.ImageDraw, card: ShareCard) -> None:
    setter = _Setter("bold", 32)
    top = _BAND + 38
    width = WIDTH - 2 * _MARGIN
    hashtag = _fit(setter, f"#{plain(card.hashtag)}", width * 0.45) if card.hashtag else ""
    hashtag_width = setter.width(hashtag)
    if hashtag:
        _draw_line(draw, setter, WIDTH - _MARGIN - hashtag_width, top, hashtag, _BLUE)
    campaign = _fit(setter, card.campaign, width - hashtag_width - 32)
    _draw_line(draw, setter, _MARGIN, top, campaign, _DARK_BLUE)


def _chip_labels(setter: _Setter, sectors: tuple[Sector, ...]) -> list[str]:
    """Each sector's name, cut short if the row would be wider than the image."""
    if not sectors:
        return []
    room = (WIDTH - 2 * _MARGIN - _CHIP_GAP * (len(sectors) - 1)) / len(sectors) - 2 * _CHIP_PAD
    return [_fit(setter, sector.label, room) for sector in sectors]


def _chips(draw: ImageDraw.ImageDraw, sectors: tuple[Sector, ...], *, middle: int) -> None:
    """Each sector named on its colour, in a row ending at the right margin."""
    setter = _Setter(*_CHIP_FONT)
    x = WIDTH - _MARGIN - _chips_width(sectors)
    top = middle - _CHIP_HEIGHT // 2
    for sector, label in zip(sectors, _chip_labels(setter, sectors), strict=True):
        chip = round(setter.width(label)) + 2 * _CHIP_PAD
        draw.rounded_rectangle(
            (x, top, x + chip, top + _CHIP_HEIGHT), radius=_CHIP_HEIGHT // 2, fill=sector.colour
        )
        text_top = top + (_CHIP_HEIGHT - setter.line_height) // 2 + 2
        _draw_line(draw, setter, x + _CHIP_PAD, text_top, label, _WHITE)
        x += chip + _CHIP_GAP


def _chips_width(sectors: tuple[Sector, ...]) -> int:
    setter = _Setter(*_CHIP_FONT)
    widths = [round(setter.width(label)) + 2 * _CHIP_PAD for label in _chip_labels(setter, sectors)]
    return sum(widths) + _CHIP_GAP * max(0, len(widths) - 1)


def _footer(draw: ImageDraw.ImageDraw, card: ShareCard) -> None:
    """The signature (title, byline) on the left, the sectors on the right: beside the whole
    signature when it is short, else beside the byline with the title above at full width."""
    draw.rectangle((0, _FOOTER_TOP, WIDTH, HEIGHT), fill=_PALE_GREY)
    title, byline = _Setter("bold", 34), _Setter("regular", 27)
    inner = WIDTH - 2 * _MARGIN
    room = inner - _chips_width(card.sectors) - 32 if card.sectors else inner
    title_text, byline_text = plain(card.title), plain(card.byline)
    block = title.line_height + (byline.line_height if byline_text else 0)
    top = _FOOTER_TOP + (HEIGHT - _FOOTER_TOP - block) // 2
    if title.width(title_text) <= room:
        title_width, chips_middle = room, (_FOOTER_TOP + HEIGHT) // 2
    else:
        # The title runs under nothing; the chips sit on the byline's row (a row of their own
        # when there is no byline).
        title_width = inner
        if not byline_text:
            top = _FOOTER_TOP + (HEIGHT - _FOOTER_TOP - title.line_height - _CHIP_HEIGHT - 10) // 2
        chips_middle = top + title.line_height + max(byline.line_height, _CHIP_HEIGHT + 10) // 2
    _draw_line(draw, title, _MARGIN, top, _fit(title, title_text, title_width), _TEXT)
    if byline_text:
        _draw_line(
            draw, byline, _MARGIN, top + title.line_height, _fit(byline, byline_text, room), _SECONDARY
        )
    _chips(draw, card.sectors, middle=chips_middle)
