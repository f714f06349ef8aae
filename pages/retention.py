"""Retention, as each campaign's privacy notice states it: a set time after pledgers can
last say how their promise went (Campaign.personal_data_erase_at), what identifies people is
erased: pledgers' addresses, reminder sign-ups and the addresses their deliveries were planned
for (with the mail servers' replies, which quote them), the keyed network and session hashes of
reports, and every story never published. The suppression list keeps its canonical addresses,
so no later campaign mails someone who stopped us or whose mailbox is gone, but loses the mail
servers' replies about this campaign's people: the privacy notice says so.

Here, at the top layer, because it spans pledges, moderation and reminders. Published pledges
keep their public words, status and counts: only private columns change, so the totals stay
exact without a recount. Batched (short transactions on a big campaign) and idempotent: a
second run, or a run after a crash half-way, finds only what is left."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import CharField, F, Q, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from campaigns.models import Campaign
from moderation.models import Report
from outbox.models import Suppression
from outbox.services import outbox_forget
from pledges.models import PLEDGE_EMAIL_KINDS, Pledge, Story, StoryStatus
from reminders.models import SIGNUP_EMAIL_KINDS, ReminderDelivery, ReminderSignup

# An address that is no one's: the .invalid top-level domain is reserved (RFC 2606), so the
# marker passes the email column's validation and can never reach an inbox.
ERASED_DOMAIN = "@erased.invalid"
ERASED_PREFIX = "erased-"
RETENTION_BATCH = 1000


@dataclass
class RetentionResult:
    campaigns: list[str] = field(default_factory=list)
    addresses: int = 0
    signups: int = 0
    deliveries: int = 0
    suppression_replies: int = 0
    reports: int = 0
    stories: int = 0


def campaigns_due_for_erasure(*, now: datetime) -> list[Campaign]:
    # A handful of campaigns a year: the date is worked out in Python (it depends on defaults).
    pending = Campaign.objects.filter(personal_data_erased_at__isnull=True).order_by("pk")
    return [campaign for campaign in pending if campaign.personal_data_erase_at <= now]


def _erase_pledge_addresses(campaign: Campaign, batch: int, result: RetentionResult) -> None:
    while True:
        ids = list(
            Pledge.objects.filter(campaign=campaign)
            .exclude(email_canonical__endswith=ERASED_DOMAIN)
            # A paper pledge entered without an address has none to erase.
            .exclude(email_canonical="")
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        marker = Concat(Value(ERASED_PREFIX), F("public_id"), Value(ERASED_DOMAIN))
        with transaction.atomic():
            result.addresses += Pledge.objects.filter(pk__in=ids).update(
                email=marker,
                email_canonical=marker,
                # A hash of the address and the words: whoever guessed the address could test it.
                dedupe_key=Concat(Value(ERASED_PREFIX), F("public_id")),
                wants_reminders=False,
                wants_follow_through=False,
            )
            # An email still owed would go to no one now.
            outbox_forget(kinds=PLEDGE_EMAIL_KINDS, subject_ids=ids)


def _erase_signups(campaign: Campaign, batch: int, result: RetentionResult) -> None:
    while True:
        ids = list(
            ReminderSignup.objects.filter(campaign=campaign)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        with transaction.atomic():
            outbox_forget(kinds=SIGNUP_EMAIL_KINDS, subject_ids=ids)
            ReminderSignup.objects.filter(pk__in=ids).delete()
            result.signups += len(ids)


def _erase_suppression_replies(campaign: Campaign, result: RetentionResult) -> None:
    # Before the addresses go: they are how this campaign's entries are found. The list is
    # small (one row an address refused or stopped), so one statement.
    addresses = Q(
        email_canonical__in=Pledge.objects.filter(campaign=campaign)
        .exclude(email_canonical__endswith=ERASED_DOMAIN)
        .values("email_canonical")
    ) | Q(email_canonical__in=ReminderSignup.objects.filter(campaign=campaign).values("email_canonical"))
    # "550 <sam@example.org>: user unknown" quotes the address as typed, beyond the canonical form.
    result.suppression_replies += Suppression.objects.filter(addresses).exclude(detail="").update(detail="")


def _erase_delivery_recipients(campaign: Campaign, batch: int, result: RetentionResult) -> None:
    while True:
        ids = list(
            ReminderDelivery.objects.filter(campaign=campaign)
            .filter(~Q(recipient__startswith=ERASED_PREFIX) | ~Q(last_error=""))
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        result.deliveries += ReminderDelivery.objects.filter(pk__in=ids).update(
            # Unique with the reminder per campaign, as the address was: the row's own id keeps it so.
            recipient=Concat(Value(ERASED_PREFIX), Cast("pk", CharField())),
            # A mail server's refusal quotes the address ("550 <sam@example.org>: user unknown").
            last_error="",
        )


def _erase_report_hashes(campaign: Campaign, batch: int, result: RetentionResult) -> None:
    while True:
        ids = list(
            Report.objects.filter(pledge__campaign=campaign)
            .exclude(network_key__startswith=ERASED_PREFIX, reporter_key__startswith=ERASED_PREFIX)
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        # One marker per row: counted reports are unique per pledge and network.
        marker = Concat(Value(ERASED_PREFIX), Cast("pk", CharField()))
        result.reports += Report.objects.filter(pk__in=ids).update(network_key=marker, reporter_key=marker)


def _erase_unpublished_stories(campaign: Campaign, batch: int, result: RetentionResult) -> None:
    while True:
        ids = list(
            Story.objects.filter(campaign=campaign)
            .filter(~Q(status=StoryStatus.PUBLISHED))
            .order_by("pk")
            .values_list("pk", flat=True)[:batch]
        )
        if not ids:
            return
        Story.objects.filter(pk__in=ids).delete()
        result.stories += len(ids)


def campaign_personal_data_erase(
    *, campaign: Campaign, now: datetime | None = None, batch: int = RETENTION_BATCH
) -> RetentionResult:
    """Erase one campaign's personal data now, whatever its date (the job checks the date)."""
    result = RetentionResult(campaigns=[campaign.slug])
    _erase_suppression_replies(campaign, result)
    _erase_pledge_addresses(campaign, batch, result)
    _erase_signups(campaign, batch, result)
    _erase_delivery_recipients(campaign, batch, result)
    _erase_report_hashes(campaign, batch, result)
    _erase_unpublished_stories(campaign, batch, result)
    # Last, so a run that died half-way is run again in full next time.
    campaign.personal_data_erased_at = now or timezone.now()
    campaign.save(update_fields=["personal_data_erased_at"])
    return result


def retention_erase_due(*, now: datetime | None = None, batch: int = RETENTION_BATCH) -> RetentionResult:
    """Erase the personal data of every campaign whose retention period has ended."""
    now = now or timezone.now()
    total = RetentionResult()
    for campaign in campaigns_due_for_erasure(now=now):
        done = campaign_personal_data_erase(campaign=campaign, now=now, batch=batch)
        total.campaigns += done.campaigns
        total.addresses += done.addresses
        total.signups += done.signups
        total.deliveries += done.deliveries
        total.suppression_replies += done.suppression_replies
        total.reports += done.reports
        total.stories += done.stories
    return total
