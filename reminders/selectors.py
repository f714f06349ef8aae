"""Reads for reminders: who a reminder goes to, and how its run went."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Q, QuerySet

from campaigns.models import Campaign
from outbox.selectors import suppressed
from pledges.models import Pledge, Status
from reminders.models import (
    OPEN_DELIVERY_STATES,
    Audience,
    DeliveryStatus,
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
    eligible = Pledge.objects.filter(
        campaign=campaign, status=Status.PUBLISHED, wants_reminders=True
    ).order_by("email_canonical", "id")
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


def reminder_recipient_chunks(*, reminder: Reminder, chunk_size: int = 2000) -> Iterator[list[Recipient]]:
    """Everyone a reminder should go to right now, a chunk at a time, so a
    campaign with 100,000 recipients never has them all in memory.

    Sign-ups who have since pledged are left out: pledgers hear as pledgers,
    if they opted in. So the two audiences never share an address. Addresses on the
    suppression list (outbox.models.Suppression) are left out as the unsubscribed are."""
    for chunk in _audience_chunks(reminder=reminder, chunk_size=chunk_size):
        blocked = suppressed(recipient.email_canonical for recipient in chunk)
        kept = [recipient for recipient in chunk if recipient.email_canonical not in blocked]
        if kept:
            yield kept


def _audience_chunks(*, reminder: Reminder, chunk_size: int) -> Iterator[list[Recipient]]:
    campaign = reminder.campaign
    if reminder.audience in (Audience.EVERYONE, Audience.PLEDGERS):
        yield from _pledger_chunks(campaign=campaign, chunk_size=chunk_size)
    if reminder.audience in (Audience.EVERYONE, Audience.SIGNUPS):
        yield from _signup_chunks(campaign=campaign, chunk_size=chunk_size)


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
