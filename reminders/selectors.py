"""Reads for reminders: who a reminder goes to, and how its run went."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from campaigns.models import Campaign
from outbox.selectors import suppressed
from pledges.models import UNFINISHED_OUTCOMES, Pledge, Status
from reminders.models import (
    MAX_TIMES_ASKED,
    OPEN_DELIVERY_STATES,
    Audience,
    DeliveryStatus,
    FollowThroughListing,
    Reminder,
    ReminderDelivery,
    ReminderRun,
    ReminderSignup,
    SignupStatus,
)


@dataclass(frozen=True)
class Recipient:
    # changeday.lib.emailaddr.canonical_email: one person is one recipient.
    email_canonical: str
    pledge_id: int | None = None
    signup_id: int | None = None


def _confirmed_pledges() -> QuerySet[Pledge]:
    # Found by email_canonical (pledge_email_canonical_idx): exactly, never in any case.
    return Pledge.objects.exclude(status=Status.UNCONFIRMED)


def addresses_that_pledged(*, campaign_id: int, emails: list[str]) -> set[str]:
    """Which of these canonical addresses have a confirmed pledge in the campaign."""
    if not emails:
        return set()
    found = (
        _confirmed_pledges()
        .filter(campaign_id=campaign_id, email_canonical__in=emails)
        .values_list("email_canonical", flat=True)
    )
    return set(found) & set(emails)


def _pledger_chunks(*, campaign: Campaign, chunk_size: int) -> Iterator[list[Recipient]]:
    eligible = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED, wants_reminders=True)
    yield from _address_chunks(eligible, chunk_size=chunk_size)


def _address_chunks(pledges: QuerySet[Pledge], *, chunk_size: int) -> Iterator[list[Recipient]]:
    """One recipient per canonical address of these pledges (its oldest pledge), a chunk at a time.
    Paper pledges entered without an address have none to write to, whatever their boxes say."""
    eligible = pledges.exclude(email_canonical="").order_by("email_canonical", "id")
    after = ""
    while True:
        rows = list(
            eligible.filter(email_canonical__gt=after).values_list("email_canonical", "id")[:chunk_size]
        )
        if not rows:
            return
        # Walked in address order: the first row of each address is its oldest
        # pledge, and the next chunk starts after the last address, so an
        # address with many pledges still gets one reminder.
        chunk: list[Recipient] = []
        for email, pledge_id in rows:
            if not chunk or chunk[-1].email_canonical != email:
                chunk.append(Recipient(email_canonical=email, pledge_id=pledge_id))
        after = rows[-1][0]
        yield chunk


def _signup_chunks(*, campaign: Campaign, chunk_size: int) -> Iterator[list[Recipient]]:
    pledged = _confirmed_pledges().filter(
        campaign_id=OuterRef("campaign_id"), email_canonical=OuterRef("email_canonical")
    )
    eligible = (
        ReminderSignup.objects.filter(campaign=campaign, status=SignupStatus.CONFIRMED)
        .filter(~Exists(pledged))
        .order_by("email_canonical")
    )
    after = ""
    while True:
        rows = list(
            eligible.filter(email_canonical__gt=after).values_list("email_canonical", "id")[:chunk_size]
        )
        if not rows:
            return
        after = rows[-1][0]
        yield [Recipient(email_canonical=email, signup_id=signup_id) for email, signup_id in rows]


def reminder_recipient_chunks(
    *, reminder: Reminder, chunk_size: int = 2000, as_of: datetime | None = None
) -> Iterator[list[Recipient]]:
    """Everyone a reminder or follow-through moment should go to right now, a chunk at a
    time, so a campaign with 100,000 recipients never has them all in memory.

    Sign-ups who have since pledged are left out: pledgers hear as pledgers,
    if they opted in. So the two audiences never share an address. A follow-through
    moment goes to each address once, whatever number of its pledges it asks about
    (follow_through_pledges, as of `as_of`: its run's start). Addresses on the
    suppression list (outbox.models.Suppression) are left out as the unsubscribed are."""
    for chunk in _audience_chunks(reminder=reminder, chunk_size=chunk_size, as_of=as_of):
        blocked = suppressed(recipient.email_canonical for recipient in chunk)
        kept = [recipient for recipient in chunk if recipient.email_canonical not in blocked]
        if kept:
            yield kept


def _audience_chunks(
    *, reminder: Reminder, chunk_size: int, as_of: datetime | None
) -> Iterator[list[Recipient]]:
    campaign = reminder.campaign
    if reminder.is_follow_through:
        assert as_of is not None, "a follow-through's audience is taken as of its run's start"
        pledges = follow_through_pledges(reminder=reminder, as_of=as_of)
        yield from _address_chunks(pledges, chunk_size=chunk_size)
        return
    if reminder.audience in (Audience.EVERYONE, Audience.PLEDGERS):
        yield from _pledger_chunks(campaign=campaign, chunk_size=chunk_size)
    if reminder.audience in (Audience.EVERYONE, Audience.SIGNUPS):
        yield from _signup_chunks(campaign=campaign, chunk_size=chunk_size)


# --- Follow-through: whose pledges a moment asks about -----------------------------------


def _sent_listings() -> QuerySet[FollowThroughListing]:
    """The listings of each pledge (OuterRef "pk") in follow-through emails that went."""
    return FollowThroughListing.objects.filter(pledge_id=OuterRef("pk"), delivery__status=DeliveryStatus.SENT)


def follow_through_pledges(
    *, reminder: Reminder, as_of: datetime, stopped_too: bool = False
) -> QuerySet[Pledge]:
    """The pledges a follow-through moment asks about, of every address: published, by
    pledgers who have not stopped follow-through (unless stopped_too), asked fewer than
    MAX_TIMES_ASKED times, and by audience:

    - FOLLOW_ALL: every pledge published by `as_of` (the run's start);
    - FOLLOW_NOT_ASKED: those of them with no answer yet that no email has asked about: a
      pledge hidden, or whose address was suppressed, while an earlier moment went is asked
      once it is back;
    - FOLLOW_UNFINISHED: those whose pledger answered "not yet" or "started".

    Asked means listed in a follow-through email that went (FollowThroughListing).
    The same question at planning (per address) and at sending (the list in the email),
    so a pledge withdrawn, rejected, hidden or answered in between drops out of the email."""
    times_asked = _sent_listings().order_by().values("pledge_id").annotate(times=Count("pk")).values("times")
    pledges = (
        Pledge.objects.filter(
            campaign_id=reminder.campaign_id, status=Status.PUBLISHED, published_at__lte=as_of
        )
        .exclude(email_canonical="")
        .alias(times_asked=Coalesce(Subquery(times_asked), 0))
        .filter(times_asked__lt=MAX_TIMES_ASKED)
    )
    if not stopped_too:
        pledges = pledges.filter(wants_follow_through=True)
    if reminder.audience == Audience.FOLLOW_NOT_ASKED:
        pledges = pledges.filter(outcome="").exclude(Exists(_sent_listings()))
    elif reminder.audience == Audience.FOLLOW_UNFINISHED:
        pledges = pledges.filter(outcome__in=UNFINISHED_OUTCOMES)
    elif reminder.audience != Audience.FOLLOW_ALL:
        raise ValueError(f"{reminder.audience!r} is not a follow-through audience")
    return pledges


def follow_through_pledges_by_address(
    *, reminder: Reminder, as_of: datetime, emails: Iterable[str], stopped_too: bool = False
) -> dict[str, list[Pledge]]:
    """follow_through_pledges of these canonical addresses, oldest first, by address: one
    query for a batch of recipients."""
    wanted = set(emails)
    found: dict[str, list[Pledge]] = {}
    if not wanted:
        return found
    pledges = follow_through_pledges(reminder=reminder, as_of=as_of, stopped_too=stopped_too)
    for pledge in pledges.filter(email_canonical__in=wanted).order_by("id"):
        # Compared again in Python, exactly (CVE-2019-19844): the database's collation decides "in".
        if pledge.email_canonical in wanted:
            found.setdefault(pledge.email_canonical, []).append(pledge)
    return found


@dataclass(frozen=True)
class RunCounts:
    recipients: int
    sent: int
    failed: int
    skipped: int
    waiting: int


RUN_COUNT_ANNOTATIONS = {
    "n_recipients": Count("deliveries"),
    "n_sent": Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SENT)),
    "n_failed": Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.FAILED)),
    "n_skipped": Count("deliveries", filter=Q(deliveries__status=DeliveryStatus.SKIPPED)),
    "n_waiting": Count("deliveries", filter=Q(deliveries__status__in=OPEN_DELIVERY_STATES)),
}


def reminder_run_counts(*, run: ReminderRun) -> RunCounts:
    row = ReminderRun.objects.filter(pk=run.pk).aggregate(**RUN_COUNT_ANNOTATIONS)
    return RunCounts(
        recipients=row["n_recipients"],
        sent=row["n_sent"],
        failed=row["n_failed"],
        skipped=row["n_skipped"],
        waiting=row["n_waiting"],
    )


def deliveries_open(*, run: ReminderRun) -> QuerySet[ReminderDelivery]:
    return ReminderDelivery.objects.filter(run=run, status__in=OPEN_DELIVERY_STATES)
