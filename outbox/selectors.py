"""Reads of the outbox that organisers see."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q

from outbox.kinds import email_kinds
from outbox.models import OutboxEmail, Suppression


def outbox_failed_count(*, campaign_id: int) -> int:
    """How many emails of a campaign were given up (a 5xx refusal, or every attempt failed):
    read from the outbox's partial index of failed rows, which stays small. A kind belongs to
    a campaign through the subjects its app registered (outbox.kinds)."""
    of_campaign = Q(pk__in=[])
    for spec in email_kinds():
        if spec.campaign_subjects is not None:
            of_campaign |= Q(kind=spec.kind, subject_id__in=spec.campaign_subjects(campaign_id))
    return OutboxEmail.objects.filter(failed_at__isnull=False).filter(of_campaign).count()


def suppressed(emails_canonical: Iterable[str]) -> set[str]:
    """Which of these canonical addresses are on the suppression list: no reminder or
    follow-through goes to them. One query for a chunk of recipients."""
    wanted = set(emails_canonical)
    if not wanted:
        return set()
    found = Suppression.objects.filter(email_canonical__in=wanted, lifted_at__isnull=True).values_list(
        "email_canonical", flat=True
    )
    # Compared again in Python, exactly (CVE-2019-19844): the database's collation decides "in".
    return set(found) & wanted
