"""Print-ready posters and pledge cards for a campaign (pages.printing draws and writes them).

Each poster's QR code opens the pledge form with a source tag (pledges.sources) the stats page
counts; a sector's or organisation's poster also ticks the sector or fills in the organisation
on the form (pledges.forms.pledge_prefill_read). A card has what an organiser needs to type a
paper pledge in later, under the card's own reference."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.mail import absolute_url
from organisations.models import Organisation
from pages.printing import (
    BLUE,
    GREY,
    INK,
    PAGE_HEIGHT,
    PAGE_WIDTH,
    QR_QUIET,
    WHITE,
    Box,
    Document,
    Rule,
    Shape,
    Text,
    fit,
    qr_matrix,
    qr_shapes,
    text_lines,
    text_width,
    wrap,
)
from pledges.models import SectorSlug
from pledges.sources import CAMPAIGN_POSTER, PLEDGE_CARD, source_for_organisation, source_for_sector

MARGIN = 40.0

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
    hashtag, y = text_lines(lines, x=MARGIN, top=MARGIN - 12, size=size, bold=True, colour=WHITE)
    size, lines = fit(
        campaign.name, width=width, largest=40, smallest=18, max_lines=2, max_height=84, bold=True
    )
    name, y = text_lines(lines, x=MARGIN, top=y + 6, size=size, bold=True, colour=WHITE)
    when: list[Shape] = []
    y += 4
    for line in (f"Pledge by {last_pledging_day(campaign)}", f"Change Day is {change_day_text(campaign)}"):
        shapes, y = text_lines([line], x=MARGIN, top=y + 2, size=14, colour=WHITE)
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
    shapes, _ = text_lines(lines, x=MARGIN, top=y, size=size, colour=GREY)
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
    headline, y = text_lines(lines, x=MARGIN, top=y + 22, size=size, bold=True, colour=BLUE)
    shapes += headline
    size, lines = fit(campaign.description, width=width, largest=13, smallest=11, max_lines=3)
    words, y = text_lines(lines, x=MARGIN, top=y + 10, size=size)
    shapes += words

    # The QR code, and beside it what to do with it.
    url = poster_url(campaign, subject)
    top = y + QR_QUIET * QR_SIZE / len(qr_matrix(url)) + 8
    shapes += qr_shapes(url, x=MARGIN, y=top, size=QR_SIZE)
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
    scan, side_y = text_lines(lines, x=side_x, top=top + 14, size=size, bold=True)
    lines = wrap("One promise, no matter how big or small. It takes a minute.", size=12, width=side_width)
    small, side_y = text_lines(lines, x=side_x, top=side_y + 8, size=12)
    form = absolute_url(reverse("pledges:create", kwargs={"slug": campaign.slug}))
    typed, side_y = text_lines(["Or type this address:"], x=side_x, top=side_y + 8, size=11, colour=GREY)
    size, lines = fit(form, width=side_width, largest=12, smallest=8, max_lines=4, bold=True)
    address, side_y = text_lines(lines, x=side_x, top=side_y + 2, size=size, bold=True)
    shapes += [*scan, *small, *typed, *address]
    y = max(top + QR_SIZE, side_y) + 18

    # Room for a team to write its own pledge: whatever is left above the footer.
    bottom = PAGE_HEIGHT - MARGIN - FOOTER_ROOM
    height = max(bottom - y, TEAM_BOX_MIN)
    shapes.append(Box(MARGIN, y, width, height, stroke=BLUE, line_width=2))
    heading, line_y = text_lines(
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
    shapes += qr_shapes(
        pledge_form_url(campaign, source=PLEDGE_CARD), x=right - CARD_QR, y=top + 52, size=CARD_QR
    )
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
    words, y = text_lines(lines, x=left, top=y + 6, size=size, colour=GREY)
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
