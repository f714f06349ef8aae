from __future__ import annotations

import smtplib
from datetime import timedelta

from celery import shared_task

from pledges import services

# Errors a later attempt can get past: the mail server busy, down or slow.
TEMPORARY_MAIL_ERRORS = (smtplib.SMTPException, OSError, TimeoutError)


@shared_task(
    acks_late=True,
    autoretry_for=TEMPORARY_MAIL_ERRORS,
    retry_backoff=5,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def send_outbox_email_task(outbox_id: int) -> bool:
    return services.outbox_send(outbox_id=outbox_id)


@shared_task(acks_late=True)
def outbox_drain(older_than_seconds: int = 60) -> int:
    """Queue every owed email whose own task never ran (broker down, worker killed)."""
    ids = services.outbox_claim_overdue(older_than=timedelta(seconds=older_than_seconds))
    for outbox_id in ids:
        send_outbox_email_task.delay(outbox_id)
    return len(ids)


@shared_task(acks_late=True)
def recompute_totals_task(campaign_id: int | None = None) -> int:
    """Recount the live counters of one campaign, or of every campaign."""
    from campaigns.models import Campaign

    campaigns = Campaign.objects.all() if campaign_id is None else Campaign.objects.filter(pk=campaign_id)
    repaired = 0
    for campaign in campaigns.iterator():
        repaired += len(services.campaign_recompute_totals(campaign=campaign))
    return repaired


@shared_task(acks_late=True)
def purge_unconfirmed_task() -> dict[str, int]:
    """Delete what people gave but never confirmed, once it can no longer be confirmed."""
    return services.unconfirmed_purge()
