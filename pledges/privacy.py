"""A pledger's own data: seeing it, downloading it, erasing it; and the purge of
what people gave but never confirmed.

Other apps hold data about pledgers too (moderation's audit, reminders' sign-ups).
They register at start-up (AppConfig.ready) what to add to the download, what to do
when an address is erased and what to purge; this module imports none of them."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from changeday.lib.emailaddr import canonical_email
from outbox.models import OutboxEmail
from outbox.services import outbox_forget
from pledges.models import PLEDGE_EMAIL_KINDS, PUBLIC_STATES, EmailKind, Pledge, Status, Story, Transition
from pledges.services import pledge_email_queue, pledges_move

logger = logging.getLogger(__name__)


class EraseListener(Protocol):
    def __call__(self, *, email_canonical: str, pledge_ids: list[int]) -> None: ...


class UnconfirmedPurge(Protocol):
    def __call__(self, *, now: datetime) -> int: ...


# What an app adds to each pledge of the download: {pledge id: {key: value}}.
ExportSection = Callable[[list[Pledge]], dict[int, dict[str, Any]]]

_erase_listeners: list[EraseListener] = []
_export_sections: list[ExportSection] = []
_purges: dict[str, UnconfirmedPurge] = {}


def pledger_data_erase_listen(listener: EraseListener) -> None:
    """Call `listener` in the erasing transaction, before the pledges go, when an
    address that made pledges is erased."""
    if listener not in _erase_listeners:
        _erase_listeners.append(listener)


def pledger_data_export_extend(section: ExportSection) -> None:
    """Add what `section` returns to each pledge of a pledger's download."""
    if section not in _export_sections:
        _export_sections.append(section)


def unconfirmed_purge_register(*, what: str, purge: UnconfirmedPurge) -> None:
    """Another kind of record people give but may never confirm joins the scheduled purge."""
    _purges[what] = purge


# --- Reads -----------------------------------------------------------------------------------


def pledger_pledges(*, email: str) -> list[Pledge]:
    """Every pledge made from this address (its canonical form, exactly), in every
    campaign, oldest first. An empty address has made none: it would match every paper
    pledge entered without one."""
    wanted = canonical_email(email)
    if not wanted:
        return []
    found = (
        Pledge.objects.filter(email_canonical=wanted).select_related("campaign").order_by("created_at", "id")
    )
    # A signed link shows these: each is checked in Python to be exactly the
    # address asked for, not only by the database (CVE-2019-19844).
    return [pledge for pledge in found if pledge.email_canonical == wanted]


def pledger_data_export(*, pledges: list[Pledge]) -> dict[str, Any]:
    """What we hold about a pledger, as the JSON they download: every field of
    their pledges and what other apps registered (the decisions about them, not
    who made those decisions)."""
    sections = [section(pledges) for section in _export_sections]
    # Every story, whatever its status: the pledger's own words, private ones included.
    stories = pledger_stories(pledges=pledges)
    return {
        "format": "changeday-pledger-data/1",
        "pledges": [
            {
                "public_id": pledge.public_id,
                "campaign": {"name": pledge.campaign.name, "slug": pledge.campaign.slug},
                "text": pledge.text,
                "display_name": pledge.display_name,
                "is_anonymous": pledge.is_anonymous,
                "role": pledge.role,
                "organisation": pledge.organisation,
                "region": pledge.region,
                "kind": pledge.kind,
                "sectors": pledge.sector_slugs,
                "email": pledge.email,
                "channel": pledge.channel,
                "paper_reference": pledge.paper_reference,
                "consent_to_publish": pledge.consent_to_publish,
                "wants_reminders": pledge.wants_reminders,
                "status": pledge.status,
                "rejection_reason": pledge.rejection_reason,
                "created_at": pledge.created_at,
                "confirmed_at": pledge.confirmed_at,
                "published_at": pledge.published_at,
                "wants_follow_through": pledge.wants_follow_through,
                "outcome": pledge.outcome or None,
                "outcome_at": pledge.outcome_at,
                "story": _story_export(stories.get(pledge.pk)),
                **{key: value for section in sections for key, value in section.get(pledge.pk, {}).items()},
            }
            for pledge in pledges
        ],
    }


def _story_export(story: Story | None) -> dict[str, Any] | None:
    if story is None:
        return None
    return {
        "text": story.text,
        "public": story.public,
        "status": story.status,
        "rejection_reason": story.rejection_reason,
        "created_at": story.created_at,
        "updated_at": story.updated_at,
        "published_at": story.published_at,
    }


def pledger_stories(*, pledges: list[Pledge]) -> dict[int, Story]:
    """The stories told with these pledges, by pledge id (one query)."""
    return {story.pledge_id: story for story in Story.objects.filter(pledge__in=pledges)}


# --- Writes ----------------------------------------------------------------------------------


def pledger_data_request(*, email: str) -> None:
    """Email a link to every pledge made from this address, if it made any.

    The caller learns nothing either way: a page must never reveal whether an
    address pledged (product rule), so the answer is said by email or not at all.
    """
    wanted = canonical_email(email)
    if not wanted:
        # Paper pledges entered without an address share the empty one: no link for them.
        return
    anchor = Pledge.objects.filter(email_canonical=wanted).order_by("-created_at", "-id").first()
    # Checked again here, not only by the database (as Django's password reset does
    # since CVE-2019-19844): the link goes to the anchor's address.
    if anchor is None or anchor.email_canonical != wanted:
        return
    with transaction.atomic():
        pledge_email_queue(pledge=anchor, kind=EmailKind.DATA_LINK)


def pledger_data_erase(*, email: str, now: datetime | None = None) -> int:
    """Delete every pledge made from this address, in every campaign, with its
    reports, sector tags and owed emails. Returns how many pledges went.

    Published pledges first leave the live counters through pledges_move, by the
    one place a status changes, so the totals stay exact without a recount. The
    apps that registered an erase listener (moderation's audit, reminders'
    sign-ups) forget the person in the same transaction.

    An empty address erases nothing: it would otherwise be every paper pledge entered
    without one, many people's.
    """
    now = now or timezone.now()
    wanted = canonical_email(email)
    if not wanted:
        return 0
    with transaction.atomic():
        # Locked in id order, as moderation locks: an organiser deciding on
        # one of these pledges at this moment waits, then finds it gone.
        found = Pledge.objects.select_for_update().filter(email_canonical=wanted).order_by("pk")
        # Every row checked in Python to be exactly this address (CVE-2019-19844).
        pledges = [pledge for pledge in found if pledge.email_canonical == wanted]
        # One move for all: the counters move once per campaign, in key order, as the
        # bulk decisions do (several calls would lock shards in an order the recount could cross).
        public = [pledge for pledge in pledges if pledge.status in PUBLIC_STATES]
        if public:
            pledges_move(pledges=public, transition=Transition.WITHDRAW, now=now)
        ids = [pledge.pk for pledge in pledges]
        if ids:
            # What other apps keep of the address goes too, or loses the person
            # (the audit keeps each decision, without the pledge and the reason).
            for listener in _erase_listeners:
                listener(email_canonical=wanted, pledge_ids=ids)
        # Reports, sector tags, reminder deliveries and stories go with the pledges (CASCADE),
        # their emails through the outbox.
        outbox_forget(kinds=PLEDGE_EMAIL_KINDS, subject_ids=ids)
        Pledge.objects.filter(pk__in=ids).delete()
    if pledges:
        logger.info("Erased %d pledges at their pledger's request", len(pledges))
    return len(pledges)


def pledge_purge_unconfirmed(*, now: datetime | None = None, batch_size: int = 1000) -> int:
    """Delete pledges never confirmed once no confirmation link for them can
    still work. Returns how many went.

    An unconfirmed pledge holds an address we were never allowed to keep. A link
    works for PLEDGE_CONFIRMATION_MAX_AGE (7 days) from when its email was sent,
    and a resubmission sends a fresh one, so a pledge with an email made, due or
    sent within that time stays: its owner may still click. An email the
    confirmation cap holds back is due later than it was made.
    """
    now = now or timezone.now()
    cutoff = now - settings.PLEDGE_CONFIRMATION_MAX_AGE
    purged = 0
    while True:
        with transaction.atomic():
            # skip_locked: a pledge being confirmed right now is locked by
            # pledge_confirm and must not be deleted under it; the next run
            # finds it confirmed. The status filter is re-checked under the lock.
            ids = list(
                Pledge.objects.select_for_update(skip_locked=True)
                .filter(status=Status.UNCONFIRMED, created_at__lt=cutoff)
                .exclude(Exists(_emails_made_due_or_sent_since(cutoff)))
                .order_by("pk")
                .values_list("pk", flat=True)[:batch_size]
            )
            if ids:
                outbox_forget(kinds=PLEDGE_EMAIL_KINDS, subject_ids=ids)
                Pledge.objects.filter(pk__in=ids).delete()
        purged += len(ids)
        if len(ids) < batch_size:
            break
    if purged:
        logger.info("Purged %d pledges never confirmed", purged)
    return purged


def _emails_made_due_or_sent_since(cutoff: datetime) -> QuerySet[OutboxEmail]:
    """The emails about the outer pledge (OuterRef) made, due or sent since cutoff."""
    return OutboxEmail.objects.filter(kind__in=PLEDGE_EMAIL_KINDS, subject_id=OuterRef("pk")).filter(
        Q(created_at__gte=cutoff) | Q(not_before__gte=cutoff) | Q(sent_at__gte=cutoff)
    )


def unconfirmed_purge(*, now: datetime | None = None) -> dict[str, int]:
    """Every purge of data people gave but never confirmed, by what was purged.

    The beat task and `manage.py purge_unconfirmed` call this one function;
    another kind of unconfirmed record (reminder sign-ups) joins by registering its
    own `<entity>_purge_unconfirmed(*, now)` service (unconfirmed_purge_register).
    """
    now = now or timezone.now()
    return {what: purge(now=now) for what, purge in _purges.items()}


unconfirmed_purge_register(what="pledges", purge=pledge_purge_unconfirmed)
