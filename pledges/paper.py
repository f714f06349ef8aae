"""Pledges collected on paper cards and typed in by an organiser, one by one or from a file
(pledges.paper_import), and their withdrawal when the pledger asks an organiser.

Many care workers, porters and patients have no work email or computer: they fill in a card
at an event, tick its consent box and leave it with the organisers. A card's pledge goes
through everything an online one does except the email confirmation, which the organiser's
entry stands in for: the same words rules, the same screening, the same publication or
moderation by the campaign's mode, the same counters in the same transaction. The card's
reference is the duplicate rule (one pledge per card in a campaign, a database constraint).
The address is optional; without one nothing is ever sent, and the pledger withdraws by
asking an organiser, who says when and how they asked.

Every entry is audited as "collected on paper": the moderation app, above us, listens
(paper_entered_listen) and writes its record in the entry's transaction. An organiser
account enters at most settings.RATE_LIMITS["paper-entries"] (500 an hour) pledges."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.emailaddr import canonical_email
from organisations.models import Organisation
from outbox.services import outbox_queue_many
from pledges.models import (
    TRANSITIONS,
    Channel,
    EmailKind,
    Kind,
    Pledge,
    Status,
    Transition,
    new_public_id,
)
from pledges.services import (
    PLEDGE_TEXT_MIN,
    CampaignNotOpen,
    PledgeError,
    PledgeFieldError,
    pledge_build,
    pledge_campaign_open,
    pledge_fields_check,
    pledge_insert,
    pledge_text_hash,
    pledge_transition,
    pledges_confirm_held,
)

PAPER_SCOPE = "paper-entries"
# Cards filled in up to the deadline (often on Change Day itself) reach the organisers days
# later: they may be typed in for this long after it.
PAPER_ENTRY_GRACE = timedelta(days=14)
PAPER_REFERENCE_MAX = 40
# Letters, digits and dashes, starting and ending with a letter or digit: what is printed or
# written on a card ("ABC-0012"). ASCII only, so no two references that look alike differ.
_REFERENCE = re.compile(r"[A-Z0-9](?:[A-Z0-9-]*[A-Z0-9])?")
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
NOTE_MAX = 500
# First key of the advisory locks that serialise one organiser's entries (_entries_serialise);
# pledges.services.CONFIRMATION_LOCK_SPACE is 15_004.
PAPER_LOCK_SPACE = 15_005


class PaperEntryError(PledgeError):
    """A card that cannot be entered as it stands; the message is for the organiser, and
    `field` names the form field it is about ("" for the card as a whole)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


def paper_entry_open(*, campaign: Campaign, now: datetime) -> None:
    """CampaignNotOpen, saying when, unless cards may be typed in at `now`: from the
    campaign's opening until PAPER_ENTRY_GRACE after its deadline."""
    if now < campaign.deadline:
        pledge_campaign_open(campaign=campaign, now=now)
        return
    last = campaign.deadline + PAPER_ENTRY_GRACE
    if now >= last:
        raise CampaignNotOpen(
            f"Pledging for {campaign.name} has closed, and cards collected by its deadline could be "
            f"typed in until {timezone.localtime(last):%-d %B %Y at %H:%M}."
        )


class PaperCardTaken(PaperEntryError):
    """The card's reference is already a pledge of this campaign."""

    def __init__(self, *, reference: str, existing: Pledge) -> None:
        super().__init__(paper_taken_message(reference=reference, existing=existing), field="paper_reference")
        self.reference = reference
        self.existing = existing


class PaperLimitReached(PaperEntryError):
    """The organiser account has entered as many pledges as it may this hour."""

    def __init__(self, *, allowance: PaperAllowance, wanted: int) -> None:
        super().__init__(allowance.refusal(wanted=wanted))
        self.allowance = allowance
        self.wanted = wanted


def paper_reference_normalise(raw: str) -> str:
    """' abc-0012 ' → 'ABC-0012'. ValueError with a sentence for anything else."""
    reference = raw.strip().translate(_ASCII_UPPER)
    if not reference:
        raise ValueError("Enter the reference printed or written on the card.")
    if len(reference) > PAPER_REFERENCE_MAX or not _REFERENCE.fullmatch(reference):
        raise ValueError(
            f"A card reference has letters, digits and dashes only, at most {PAPER_REFERENCE_MAX} "
            f"(for example ABC-0012); “{raw.strip()[:60]}” is not one."
        )
    return reference


def paper_dedupe_key(*, reference: str) -> str:
    """A paper pledge's dedupe key, from its card: the online key hashes the address and the
    words, and many cards have no address, so two different cards with the same words and
    none would otherwise be taken for one promise."""
    return hashlib.sha256(f"paper\n{reference}".encode()).hexdigest()


def paper_taken_message(*, reference: str, existing: Pledge) -> str:
    when = timezone.localtime(existing.created_at)
    if existing.entered_by_id:
        by = organiser_name(existing.entered_by)
    else:
        by = "an organiser no longer registered"
    return f"Card {reference} was already entered on {when:%-d %B %Y at %H:%M} by {by}."


def organiser_name(user: Any) -> str:
    """How messages and the audit name an organiser: their full name, else their login."""
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class PaperCard:
    """What one paper card says, as an organiser typed it."""

    paper_reference: str
    text: str
    display_name: str
    is_anonymous: bool
    role: str
    organisation: str
    region: str
    kind: str
    sectors: list[str]
    email: str = ""
    wants_reminders: bool = False
    wants_follow_through: bool = False
    # The organiser's word that the pledger ticked the card's consent box.
    consent_on_card: bool = False
    org: Organisation | None = None


# Longest values the columns hold: a file can carry anything, and a value too long must be a
# sentence for the organiser, not a database error.
_MAX_LENGTHS = {
    "display_name": Pledge._meta.get_field("display_name").max_length,
    "role": Pledge._meta.get_field("role").max_length,
    "organisation": Pledge._meta.get_field("organisation").max_length,
}
_FIELD_NAMES = {"display_name": "The name", "role": "The role", "organisation": "The organisation"}
# pledge_fields_check's rules, said to the organiser typing a card in rather than to its pledger.
_FIELD_RULES = {
    "text": f"Type the pledge from the card: at least {PLEDGE_TEXT_MIN} characters after “I pledge to”.",
    "sectors": "Choose at least one sector: NHS, social care, housing, or patient or carer.",
    "region": "Choose the pledger's region from the list.",
    "kind": "Choose personal or organisational.",
}


def paper_card_clean(*, card: PaperCard) -> PaperCard:
    """The card as it will be stored, or PaperEntryError naming the first thing wrong."""
    try:
        reference = paper_reference_normalise(card.paper_reference)
    except ValueError as error:
        raise PaperEntryError(str(error), field="paper_reference") from error
    if not card.consent_on_card:
        raise PaperEntryError(
            "Only cards on which the pledger ticked the consent box can be entered: without it we "
            "may not publish the pledge.",
            field="consent_on_card",
        )
    try:
        text = pledge_fields_check(
            text=card.text, sectors=card.sectors, region=card.region, kind=card.kind or Kind.PERSONAL
        )
    except PledgeFieldError as error:
        raise PaperEntryError(_FIELD_RULES.get(error.field, str(error)), field=error.field) from error
    display_name = " ".join(card.display_name.split())
    if not card.is_anonymous and not display_name:
        raise PaperEntryError(
            "Enter the name the pledger wrote, or mark the pledge anonymous.", field="display_name"
        )
    role = " ".join(card.role.split())
    if not role:
        raise PaperEntryError("Enter the pledger's role, for example porter, carer or patient.", field="role")
    values = {"display_name": display_name, "role": role, "organisation": " ".join(card.organisation.split())}
    for name, value in values.items():
        if len(value) > _MAX_LENGTHS[name]:
            raise PaperEntryError(
                f"{_FIELD_NAMES[name]} is longer than {_MAX_LENGTHS[name]} characters.", field=name
            )
    email = card.email.strip()
    if email:
        try:
            validate_email(email)
        except ValidationError as error:
            raise PaperEntryError(
                f"“{email[:80]}” is not an email address; leave it blank if the card has none.", field="email"
            ) from error
    elif card.wants_reminders or card.wants_follow_through:
        raise PaperEntryError(
            "Reminders and “did you do it?” emails need an email address: add the one on the card, "
            "or leave those boxes unticked.",
            field="wants_reminders" if card.wants_reminders else "wants_follow_through",
        )
    return replace(
        card,
        paper_reference=reference,
        text=text,
        kind=card.kind or Kind.PERSONAL,
        email=email,
        **values,
    )


def paper_cards_conflicts(*, campaign: Campaign, cards: Sequence[PaperCard]) -> dict[int, PaperEntryError]:
    """{index: why} for the cleaned cards the campaign's pledges already hold: a reference
    entered before, or the same promise from the same address (online or from another card).
    Two queries, however many cards."""
    found: dict[int, PaperEntryError] = {}
    references = [card.paper_reference for card in cards]
    taken = {
        pledge.paper_reference: pledge
        for pledge in Pledge.objects.filter(campaign=campaign, paper_reference__in=references).select_related(
            "entered_by"
        )
    }
    for index, card in enumerate(cards):
        existing = taken.get(card.paper_reference)
        if existing is not None:
            found[index] = PaperCardTaken(reference=card.paper_reference, existing=existing)
    with_address = {
        index: (canonical_email(card.email), pledge_text_hash(text=card.text))
        for index, card in enumerate(cards)
        if card.email and index not in found
    }
    if with_address:
        same = set(
            Pledge.objects.filter(
                campaign=campaign, email_canonical__in={address for address, _ in with_address.values()}
            ).values_list("email_canonical", "text_hash")
        )
        for index, pair in with_address.items():
            if pair in same:
                found[index] = PaperEntryError(
                    "This promise from this email address is already a pledge of the campaign, so it "
                    "was not entered again.",
                    field="email",
                )
    return found


@dataclass(frozen=True)
class PaperAllowance:
    """How many paper pledges an organiser account may still enter now."""

    limit: int
    used: int
    window: timedelta
    # When the oldest entry counted leaves the window (None when none is counted).
    next_free_at: datetime | None

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def retry_after(self) -> int:
        """Whole seconds until one more may be entered (what Retry-After says)."""
        if self.remaining or self.next_free_at is None:
            return 0
        return max(1, int((self.next_free_at - timezone.now()).total_seconds()) + 1)

    @property
    def per(self) -> str:
        """The window in words: "an hour", "every 2 hours", "every 30 minutes"."""
        minutes = int(self.window.total_seconds() // 60)
        if minutes == 60:
            return "an hour"
        if minutes and minutes % 60 == 0:
            return f"every {minutes // 60} hours"
        return f"every {max(1, minutes)} minutes"

    @property
    def remaining_words(self) -> str:
        """ "500 more this hour" (or "now" for a window of another length)."""
        return f"{self.remaining} more {'this hour' if self.per == 'an hour' else 'now'}"

    def refusal(self, *, wanted: int) -> str:
        cap = f"An organiser account may enter at most {self.limit} paper pledges {self.per}"
        if wanted == 1:
            when = ""
            if self.next_free_at is not None:
                when = f" The next can be entered at {timezone.localtime(self.next_free_at):%H:%M}."
            return f"{cap}, and yours has entered {self.used}. Nothing was saved.{when}"
        return (
            f"This file has {wanted} pledges. {cap}, and yours can enter {self.remaining_words}, "
            "so nothing was entered: split the file, or enter the rest later."
        )


def paper_allowance(*, organiser: AbstractBaseUser, now: datetime | None = None) -> PaperAllowance:
    """Counted from the pledges the account entered in the window before `now`, exactly,
    whatever the cache holds: a cap on rows written reads the rows (as the confirmation cap
    per address reads the emails owed)."""
    now = now or timezone.now()
    limit, window_seconds = settings.RATE_LIMITS[PAPER_SCOPE]
    window = timedelta(seconds=window_seconds)
    recent = Pledge.objects.filter(entered_by=organiser, created_at__gt=now - window)
    used = recent.count()
    next_free_at = None
    if used >= limit:
        # The entry whose leaving the window frees a place.
        oldest = recent.order_by("-created_at").values_list("created_at", flat=True)[limit - 1 : limit]
        next_free_at = oldest[0] + window if oldest else None
    return PaperAllowance(limit=limit, used=used, window=window, next_free_at=next_free_at)


def _entries_serialise(*, organiser: AbstractBaseUser) -> None:
    """Hold this account's allowance until the caller's transaction ends.

    The race: two files sent at once from one account each count 100 entered and each enter
    400. A transaction-scoped advisory lock on the account makes the second wait until the
    first commits, and count afresh. SQLite's write transactions begin IMMEDIATE (settings):
    one writer at a time already."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [PAPER_LOCK_SPACE, organiser.pk % 2**31])


@dataclass(frozen=True)
class PaperEntered:
    """Paper pledges an organiser entered, as stored and moved (published or waiting)."""

    pledges: list[Pledge]
    organiser: AbstractBaseUser


# The moderation app, above us, writes each entry into its audit (moderation.apps).
_entered_listeners: list[Callable[[PaperEntered], None]] = []


def paper_entered_listen(listener: Callable[[PaperEntered], None]) -> None:
    """Call `listener` in the transaction of every paper entry, with what was entered."""
    if listener not in _entered_listeners:
        _entered_listeners.append(listener)


def paper_pledges_enter(
    *,
    campaign: Campaign,
    organiser: AbstractBaseUser,
    cards: Sequence[PaperCard],
    now: datetime | None = None,
) -> list[Pledge]:
    """Enter paper cards as pledges, all or none, in one transaction: each card checked
    (paper_card_clean), stored without a confirmation email, then confirmed as a clicked
    link confirms (published, or held for an organiser by the campaign's mode or by
    screening), audited, and, for a published one with an address, its pledger told.

    Raises CampaignNotOpen, PaperLimitReached (nothing entered), PaperCardTaken or another
    PaperEntryError for the first card that cannot go in (nothing entered)."""
    now = now or timezone.now()
    paper_entry_open(campaign=campaign, now=now)
    cleaned = [paper_card_clean(card=card) for card in cards]
    references = [card.paper_reference for card in cleaned]
    if len(set(references)) < len(references):
        repeated = next(reference for reference in references if references.count(reference) > 1)
        raise PaperEntryError(f"Card {repeated} is in the list twice.", field="paper_reference")
    conflicts = paper_cards_conflicts(campaign=campaign, cards=cleaned)
    if conflicts:
        raise conflicts[min(conflicts)]
    with transaction.atomic():
        _entries_serialise(organiser=organiser)
        allowance = paper_allowance(organiser=organiser, now=now)
        if len(cleaned) > allowance.remaining:
            raise PaperLimitReached(allowance=allowance, wanted=len(cleaned))
        pledges = [_paper_pledge_store(campaign=campaign, organiser=organiser, card=card) for card in cleaned]
        # After every insert, so the counters' shard locks are held only until the commit.
        pledges_confirm_held(pledges=pledges, now=now)
        entered = PaperEntered(pledges=pledges, organiser=organiser)
        for listener in _entered_listeners:
            listener(entered)
        # The pledger hears only once their pledge is up, as from a moderator's publishing;
        # one held for review hears when an organiser publishes or rejects it.
        outbox_queue_many(
            emails=[
                (EmailKind.PUBLISHED, pledge.pk)
                for pledge in pledges
                if pledge.email_canonical and pledge.status == Status.PUBLISHED
            ]
        )
    return pledges


def _paper_pledge_store(*, campaign: Campaign, organiser: AbstractBaseUser, card: PaperCard) -> Pledge:
    has_address = bool(card.email)
    pledge, sectors = pledge_build(
        campaign=campaign,
        text=card.text,
        display_name=card.display_name,
        is_anonymous=card.is_anonymous,
        role=card.role,
        organisation=card.organisation,
        org=card.org,
        region=card.region,
        kind=card.kind,
        sectors=card.sectors,
        email=card.email,
        wants_reminders=has_address and card.wants_reminders,
        submission_token=uuid.uuid4(),
        dedupe_key=paper_dedupe_key(reference=card.paper_reference),
        channel=Channel.PAPER,
        paper_reference=card.paper_reference,
        entered_by=organiser,
        wants_follow_through=has_address and card.wants_follow_through,
    )
    for _ in range(3):
        if pledge_insert(pledge, sectors=sectors, send_confirmation=False):
            return pledge
        existing = (
            Pledge.objects.filter(campaign=campaign, paper_reference=card.paper_reference)
            .select_related("entered_by")
            .first()
        )
        if existing is not None:
            # Entered by someone else since paper_cards_conflicts looked.
            raise PaperCardTaken(reference=card.paper_reference, existing=existing)
        # Only the public id collided (about one chance in 2**59 a pledge): draw another.
        pledge.public_id = new_public_id()
    raise IntegrityError("Could not store the paper pledge under a fresh public id")


def pledge_enter_paper(
    *,
    campaign: Campaign,
    organiser: AbstractBaseUser,
    paper_reference: str,
    text: str,
    display_name: str,
    is_anonymous: bool,
    role: str,
    organisation: str,
    region: str,
    kind: str,
    sectors: list[str],
    consent_on_card: bool,
    email: str = "",
    wants_reminders: bool = False,
    wants_follow_through: bool = False,
    org: Organisation | None = None,
    now: datetime | None = None,
) -> Pledge:
    """Enter one paper card (paper_pledges_enter): the pledge, published or waiting."""
    card = PaperCard(
        paper_reference=paper_reference,
        text=text,
        display_name=display_name,
        is_anonymous=is_anonymous,
        role=role,
        organisation=organisation,
        region=region,
        kind=kind,
        sectors=sectors,
        email=email,
        wants_reminders=wants_reminders,
        wants_follow_through=wants_follow_through,
        consent_on_card=consent_on_card,
        org=org,
    )
    [pledge] = paper_pledges_enter(campaign=campaign, organiser=organiser, cards=[card], now=now)
    return pledge


# --- Withdrawing at the pledger's request -----------------------------------------------------

_LINKED_PUBLIC_ID = re.compile(r"/pledges/([0-9a-z]{1,16})/?(?:[?#].*)?\Z")
PUBLIC_ID_RE = re.compile(r"[0-9a-z]{1,16}")


def paper_pledge_find(*, campaign: Campaign, wanted: str) -> Pledge | None:
    """The campaign's pledge an organiser names by its card reference, its link or its public id."""
    wanted = wanted.strip()
    linked = _LINKED_PUBLIC_ID.search(wanted)
    if linked:
        return Pledge.objects.filter(campaign=campaign, public_id=linked.group(1)).first()
    try:
        reference = paper_reference_normalise(wanted)
    except ValueError:
        reference = ""
    if reference:
        found = Pledge.objects.filter(campaign=campaign, paper_reference=reference).first()
        if found is not None:
            return found
    if PUBLIC_ID_RE.fullmatch(wanted):
        return Pledge.objects.filter(campaign=campaign, public_id=wanted).first()
    return None


def pledge_withdraw_on_request(
    *, pledge: Pledge, organiser: AbstractBaseUser, note: str, now: datetime | None = None
) -> Pledge:
    """An organiser withdraws a paper pledge because its pledger asked them to (in person,
    by phone, by letter): the same move as the pledger's own link, with the counters, and
    the audit names the organiser and keeps their note of when and how the pledger asked.

    Online pledges are refused: their pledger has the link, and an organiser who must take
    one down hides or rejects it in the moderation queue, with a reason the pledger is told."""
    note = " ".join(note.split())
    if not note:
        raise PaperEntryError(
            "Say when and how the pledger asked, for the record (for example “asked in person on 12 March”).",
            field="note",
        )
    if len(note) > NOTE_MAX:
        raise PaperEntryError(f"Keep the note to {NOTE_MAX} characters or fewer.", field="note")
    if pledge.channel != Channel.PAPER:
        raise PaperEntryError(
            "This pledge was made online: its pledger withdraws it from the link in their emails. To take "
            "it off the wall, hide or reject it in the moderation queue."
        )
    if pledge.status == Status.WITHDRAWN:
        raise PaperEntryError(
            f"Card {pledge.paper_reference} was already withdrawn on "
            f"{timezone.localtime(pledge.status_changed_at):%-d %B %Y}."
        )
    if pledge.status not in TRANSITIONS[Transition.WITHDRAW][0]:
        raise PaperEntryError(
            f"Card {pledge.paper_reference} is {pledge.get_status_display().lower()}, so it is not on the "
            "wall and there is nothing to withdraw."
        )
    moved = pledge_transition(
        pledge=pledge, transition=Transition.WITHDRAW, now=now, actor=organiser, note=note
    )
    if moved.status != Status.WITHDRAWN:
        raise PaperEntryError("Someone changed this pledge a moment ago: look at it again.")
    return moved
