"""The outbox's Celery tasks: each takes ids and calls a service (outbox.services)."""

from __future__ import annotations

from datetime import timedelta

from celery import Task, shared_task
from celery.utils.time import get_exponential_backoff_interval

# services and publisher import this module in turn (a service hands emails to the publisher,
# which queues these tasks); each uses the others' names only when called.
from outbox import publisher, services
from outbox.mailsession import TEMPORARY_MAIL_ERRORS

# Retries of a temporary mail error (TEMPORARY_MAIL_ERRORS): 5 s,
# 10 s, 20 s... up to 10 minutes, jittered, for the single and the batch task.
MAIL_RETRY_BACKOFF = 5
MAIL_RETRY_BACKOFF_MAX = 600
MAIL_MAX_RETRIES = 8


@shared_task(
    acks_late=True,
    autoretry_for=TEMPORARY_MAIL_ERRORS,
    retry_backoff=MAIL_RETRY_BACKOFF,
    retry_backoff_max=MAIL_RETRY_BACKOFF_MAX,
    retry_jitter=True,
    max_retries=MAIL_MAX_RETRIES,
)
def send_outbox_email_task(outbox_id: int) -> bool:
    """One email, as a batch of one, with the transport's own retry. Nothing in the product
    queues it (publisher.outbox_enqueue queues batches); it is here for a hand-run resend."""
    return services.outbox_send(outbox_id=outbox_id)


@shared_task(bind=True, acks_late=True, max_retries=MAIL_MAX_RETRIES)
def send_outbox_emails_task(self: Task, outbox_ids: list[int]) -> int:
    """Send owed emails (a moment's confirmations, a bulk decision's) over one mail connection."""
    try:
        return services.outbox_send_many(outbox_ids=outbox_ids)
    except services.OutboxBatchPaused as paused:
        # Only the emails still owed come back, with the single task's backoff;
        # those already sent are not in the retry, and their claim would refuse them anyway.
        countdown = get_exponential_backoff_interval(
            factor=MAIL_RETRY_BACKOFF,
            retries=self.request.retries,
            maximum=MAIL_RETRY_BACKOFF_MAX,
            full_jitter=True,
        )
        raise self.retry(args=(paused.outbox_ids,), countdown=countdown, exc=paused.__cause__) from paused


@shared_task(acks_late=True)
def outbox_drain(older_than_seconds: int = 60) -> int:
    """Queue every owed email whose own task never ran (broker down, worker killed)."""
    ids = services.outbox_claim_overdue(older_than=timedelta(seconds=older_than_seconds))
    publisher.outbox_enqueue(ids)
    return len(ids)
