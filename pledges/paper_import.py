"""A file of paper pledges: the cards of an event typed into a spreadsheet, saved as CSV and
entered at once, all or nothing (pledges.paper.paper_pledges_enter), every bad row reported by
its line as the organisation directory's import reports them."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models
from django.utils import timezone

from campaigns.models import Campaign, Region
from changeday.lib.csvimport import (
    CsvNotText,
    CsvRow,
    ImportProblem,
    cell_is_formula,
    cell_unprotected,
    csv_rows,
    csv_text,
)
from pledges.models import Kind, Pledge, SectorSlug, Status
from pledges.paper import (
    PaperCard,
    PaperCardTaken,
    PaperEntryError,
    PaperLimitReached,
    paper_allowance,
    paper_card_clean,
    paper_cards_conflicts,
    paper_entry_open,
    paper_pledges_enter,
)
from pledges.services import CampaignNotOpen

# The columns, in the order of the template file; a file may name them in any order and case.
PAPER_CSV_COLUMNS = (
    "reference",
    "text",
    "name",
    "anonymous",
    "role",
    "organisation",
    "region",
    "kind",
    "sectors",
    "email",
    "reminders",
    "follow_through",
    "consent",
)
PAPER_CSV_REQUIRED = ("reference", "text", "name", "role", "region", "sectors", "consent")
# What each column holds, for the page that documents the file and the template's readers.
PAPER_CSV_HELP: dict[str, str] = {
    "reference": "The card's reference, e.g. ABC-0012: letters, digits and dashes, up to 40. One per card.",
    "text": "The pledge as written, without “I pledge to” (it is removed if typed). 10 to 500 characters.",
    "name": "The name to show. Blank only when the pledge is anonymous.",
    "anonymous": "yes to show the pledge as anonymous; blank or no otherwise.",
    "role": "The pledger's role: porter, care worker, patient…",
    "organisation": "Optional. Linked to the directory when the name matches one exactly.",
    "region": "A region's name or slug: London, North West, Scotland, Elsewhere…",
    "kind": "personal (the default when blank) or organisational.",
    "sectors": "One or more of NHS, social care, housing, patient or carer, separated by ; or ,",
    "email": "Optional. Only if the pledger wrote one on the card.",
    "reminders": "yes if the card's reminders box is ticked (needs an email).",
    "follow_through": "yes if the card's “did you do it?” box is ticked (needs an email).",
    "consent": "Must be yes: the pledger ticked the consent box. A card without it cannot be entered.",
}
# Far more than an hour's allowance (the cap says how many may go); a bigger file is refused
# before it is all read.
PAPER_IMPORT_MAX_ROWS = 5_000

_YES = {"yes", "y", "true", "1", "x", "ticked", "✓", "✔"}
_NO = {"no", "n", "false", "0", ""}


class _BadRow(ValueError):
    pass


def _yes_no(raw: str, column: str) -> bool:
    value = raw.strip().casefold()
    if value in _YES:
        return True
    if value in _NO:
        return False
    raise _BadRow(f"{column} “{raw.strip()[:40]}” is not yes or no.")


def _choice(raw: str, choices: type[models.TextChoices], what: str) -> str:
    wanted = " ".join(raw.split()).casefold()
    for value, label in choices.choices:
        if wanted in (value.casefold(), str(label).casefold()):
            return value
    known = ", ".join(str(label) for _, label in choices.choices)
    raise _BadRow(f"{what} “{raw.strip()[:60]}” is not one we know; use one of: {known}.")


_KIND_WORDS = {"": Kind.PERSONAL, "personal": Kind.PERSONAL, "organisational": Kind.ORGANISATIONAL}


def _sectors(raw: str) -> list[str]:
    found: list[str] = []
    for part in re.split(r"[;,|/]+", raw):
        part = part.strip()
        if not part:
            continue
        try:
            found.append(_choice(part, SectorSlug, "Sector"))
        except _BadRow:
            # Slugs separated by spaces ("nhs housing"): each word must be one.
            found.extend(_choice(word, SectorSlug, "Sector") for word in part.split())
    if not found:
        raise _BadRow("Name at least one sector: NHS, social care, housing, or patient or carer.")
    return sorted(set(found))


def _card(row: CsvRow) -> PaperCard:
    cells: dict[str, str] = {}
    for column, raw in row.cells.items():
        value = cell_unprotected(raw)
        if cell_is_formula(value):
            raise _BadRow(
                f"The {column} cell starts with “=”, which a spreadsheet runs as a formula: type what "
                "the card says instead."
            )
        cells[column] = value
    if not _yes_no(cells["consent"], "Consent"):
        raise _BadRow(
            "The consent box is not ticked on this card (consent is not yes): leave the card out, we may "
            "not publish it."
        )
    kind = " ".join(cells.get("kind", "").split()).casefold()
    if kind not in _KIND_WORDS:
        raise _BadRow(f"Kind “{cells['kind'].strip()[:40]}” is not personal or organisational.")
    return PaperCard(
        paper_reference=cells["reference"],
        text=cells["text"].replace("\r\n", "\n"),
        display_name=cells["name"],
        is_anonymous=_yes_no(cells.get("anonymous", ""), "Anonymous"),
        role=cells["role"],
        organisation=cells.get("organisation", ""),
        region=_choice(cells["region"], Region, "Region"),
        kind=_KIND_WORDS[kind],
        sectors=_sectors(cells["sectors"]),
        email=cells.get("email", ""),
        wants_reminders=_yes_no(cells.get("reminders", ""), "Reminders"),
        wants_follow_through=_yes_no(cells.get("follow_through", ""), "Follow-through"),
        consent_on_card=True,
    )


@dataclass
class PaperImportResult:
    """What a file entered: nothing at all when `problems` is not empty."""

    pledges: list[Pledge] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)
    # Refused by the hourly cap per organiser account (a 429 rather than a 400).
    over_limit: bool = False

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def published(self) -> int:
        return sum(1 for pledge in self.pledges if pledge.status == Status.PUBLISHED)

    @property
    def held(self) -> int:
        return len(self.pledges) - self.published


def _read_cards(text: str, problems: list[ImportProblem]) -> list[tuple[int, PaperCard]]:
    rows = csv_rows(
        text,
        columns=PAPER_CSV_COLUMNS,
        required=PAPER_CSV_REQUIRED,
        max_rows=PAPER_IMPORT_MAX_ROWS,
        problems=problems,
    )
    cards: list[tuple[int, PaperCard]] = []
    first_line: dict[str, int] = {}
    for row in rows:
        try:
            card = paper_card_clean(card=_card(row))
        except (_BadRow, PaperEntryError) as error:
            problems.append(ImportProblem(row.line, str(error)))
            continue
        if card.paper_reference in first_line:
            problems.append(
                ImportProblem(
                    row.line,
                    f"Card {card.paper_reference} is already on line {first_line[card.paper_reference]}.",
                )
            )
            continue
        first_line[card.paper_reference] = row.line
        cards.append((row.line, card))
    return cards


def paper_pledges_import(
    *,
    campaign: Campaign,
    organiser: AbstractBaseUser,
    csv_file: str | bytes | IO[str] | IO[bytes],
    now: datetime | None = None,
) -> PaperImportResult:
    """Enter every card of a CSV file, all or nothing.

    The first line names the columns (PAPER_CSV_COLUMNS, any order and case; PAPER_CSV_HELP
    says what each holds; reference, text, name, role, region, sectors and consent must be
    there). Yes/no cells take yes, y, true, 1 or x, and no, n, false, 0 or blank. A cell a
    spreadsheet would run as a formula (starting with "=") is a bad row; a quote a spreadsheet
    put before one (as our exports do) is taken off. Every bad row is reported by its line
    number with a sentence: a card whose consent is not yes, a reference already on an earlier
    line or already entered, the same promise from an address already pledged, a field the
    pledge form would refuse. A file with more cards than the account may still enter this
    hour is refused whole, saying how many remain. Then nothing at all is written."""
    now = now or timezone.now()
    try:
        paper_entry_open(campaign=campaign, now=now)
        text = csv_text(csv_file)
    except (CampaignNotOpen, CsvNotText) as error:
        return PaperImportResult(problems=[ImportProblem(0, str(error))])
    problems: list[ImportProblem] = []
    read = _read_cards(text, problems)
    lines = [line for line, _ in read]
    cards = [card for _, card in read]
    # Every card the file holds, the bad ones too: once put right they count as well.
    wanted = len(cards) + len({problem.line for problem in problems if problem.line > 1})
    for index, error in paper_cards_conflicts(campaign=campaign, cards=cards).items():
        problems.append(ImportProblem(lines[index], str(error)))
    allowance = paper_allowance(organiser=organiser, now=now)
    over_limit = wanted > allowance.remaining
    if over_limit:
        problems.insert(0, ImportProblem(0, allowance.refusal(wanted=wanted)))
    elif not cards and not problems:
        problems.append(ImportProblem(0, "The file has no cards in it: one line per card after the header."))
    if problems:
        return PaperImportResult(problems=_in_order(problems), over_limit=over_limit)
    try:
        pledges = paper_pledges_enter(campaign=campaign, organiser=organiser, cards=cards, now=now)
    except PaperCardTaken as error:
        # Entered by someone else while this file was read.
        line = lines[[card.paper_reference for card in cards].index(error.reference)]
        return PaperImportResult(problems=[ImportProblem(line, str(error))])
    except PaperLimitReached as error:
        return PaperImportResult(problems=[ImportProblem(0, str(error))], over_limit=True)
    except (CampaignNotOpen, PaperEntryError) as error:
        return PaperImportResult(problems=[ImportProblem(0, str(error))])
    return PaperImportResult(pledges=pledges)


def _in_order(problems: list[ImportProblem]) -> list[ImportProblem]:
    # The file as a whole first, then by line.
    return sorted(problems, key=lambda problem: problem.line)


def paper_csv_template() -> str:
    """The file organisers fill in: the header line alone, so nothing in it is ever entered
    by mistake (each column is explained on the page it is downloaded from)."""
    out = io.StringIO()
    csv.writer(out).writerow(PAPER_CSV_COLUMNS)
    return out.getvalue()
