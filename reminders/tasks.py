from __future__ import annotations

import functools

from celery import shared_task
from django.conf import settings

from outbox.mailsession import Throttle
from reminders import services
from reminders.models import ReminderRun


@functools.cache
def _worker_throttle() -> Throttle:
    # One per worker process, shared by every batch it runs: the limit is per process.
    return Throttle(settings.REMINDER_SEND_RATE)


@shared_task(acks_late=True)
def reminders_dispatch_task() -> int:
    """Start every reminder that is due and hand its deliveries to the workers."""
    queued = 0

    def hand_out(run: ReminderRun, batches: list[tuple[int, int]]) -> None:
        nonlocal queued
        for first_id, last_id in batches:
            reminder_send_batch_task.delay(run.pk, first_id, last_id)
            queued += 1

    # Batches go to the workers as each chunk is planned: sending starts while a
    # large run is still being written.
    services.reminders_dispatch(hand_out=hand_out)
    return queued


@shared_task(acks_late=True)
def reminder_send_batch_task(run_id: int, first_id: int, last_id: int) -> int:
    # No autoretry: a delivery that failed for now waits in the database with
    # its own backoff, and the next dispatch hands it out again.
    return services.reminder_send_batch(
        run_id=run_id, first_id=first_id, last_id=last_id, throttle=_worker_throttle()
    )
