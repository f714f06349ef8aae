"""Two hand-overs of owed emails to the workers, measured in-process: `bench/handover_compare.py [N]`.

Needs DATABASE_URL (a throw-away database: the script migrates it and leaves 2N pledges there) and
REDIS_URL (the broker). It starts bench/sink.py as the mail provider and sends N confirmations
each way, reporting wall time and this process's CPU per email:

- publisher: what the product does. The web process hands each committed id to outbox.publisher,
  which publishes one task per OUTBOX_TASK_CHUNK ids; here the hand-over and the publishes are
  timed on their own, then each task's body (outbox_send_many) runs in this process.
- relay: the alternative issue 16 asks about. A loop polls the table for owed emails with
  select_for_update(skip_locked=True), OUTBOX_TASK_CHUNK at a time, and sends them (the same
  outbox_send_many, whose claim the exactly-once record needs either way); no broker publish, no
  thread in the web process, but a query every poll whether or not anything is owed.
"""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import django

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")
os.environ.setdefault("DJANGO_DEBUG", "1")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main(n: int) -> None:
    port = _free_port()
    os.environ["EMAIL_HOST"], os.environ["EMAIL_PORT"] = "127.0.0.1", str(port)
    django.setup()
    from django.core.management import call_command
    from django.db import transaction
    from django.db.models import Q
    from django.utils import timezone

    from bench.run import SinkProcess
    from campaigns.services import campaign_create
    from outbox.models import OutboxEmail
    from outbox.publisher import OUTBOX_TASK_CHUNK, outbox_enqueue, publisher
    from outbox.services import outbox_queue, outbox_send_many
    from pledges.models import EmailKind
    from pledges.services import pledge_create

    call_command("migrate", verbosity=0)
    sink = SinkProcess(port)
    try:
        now = timezone.now()
        slug = f"handover-{uuid.uuid4().hex[:6]}"
        campaign = campaign_create(
            name="Hand-over",
            slug=slug,
            hashtag="#handover",
            description="Two hand-overs compared.",
            opens_at=now - timedelta(days=1),
            change_day=(now + timedelta(days=30)).date(),
            deadline=now + timedelta(days=30),
            target=1,
        )
        pledges = [
            pledge_create(
                campaign=campaign,
                text=f"I will try hand-over number {i}",
                display_name="",
                is_anonymous=True,
                role="",
                organisation="",
                region="london",
                kind="personal",
                sectors=["nhs"],
                email=f"handover-{slug}-{i}@example.invalid",
                consent_to_publish=True,
                wants_reminders=False,
                submission_token=uuid.uuid4(),
                send_confirmation=False,
            ).pledge
            for i in range(2 * n)
        ]

        def owe(batch: list) -> list[int]:
            with transaction.atomic():
                return [outbox_queue(kind=EmailKind.CONFIRMATION, subject_id=p.pk).pk for p in batch]

        # The publisher: hand-over (web side), publishes (web side), then the task bodies (worker).
        from changeday.celery import app

        app.control.purge()
        ids = owe(pledges[:n])
        publisher.flush()
        app.control.purge()
        sink.reset()
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, n, OUTBOX_TASK_CHUNK):
            outbox_enqueue(ids[start : start + OUTBOX_TASK_CHUNK])
        publish_cpu, publish_wall = time.process_time() - cpu, time.perf_counter() - wall
        app.control.purge()
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, n, OUTBOX_TASK_CHUNK):
            outbox_send_many(outbox_ids=ids[start : start + OUTBOX_TASK_CHUNK])
        send_cpu, send_wall = time.process_time() - cpu, time.perf_counter() - wall
        assert sink.messages == n, sink.messages
        print(
            f"publisher: {n} emails; publishes {publish_wall * 1e3:.0f} ms wall, "
            f"{publish_cpu * 1e3:.0f} ms CPU "
            f"({publish_cpu / n * 1e6:.0f} us CPU an email); sends {send_wall:.2f} s wall, "
            f"{send_cpu / n * 1e3:.2f} ms CPU an email"
        )

        # The relay: poll, lock a chunk with skip_locked, send it.
        ids = owe(pledges[n:])
        publisher.flush()
        app.control.purge()
        sink.reset()
        polls = 0
        cpu, wall = time.process_time(), time.perf_counter()
        while True:
            polls += 1
            now = timezone.now()
            with transaction.atomic():
                batch = list(
                    OutboxEmail.objects.select_for_update(skip_locked=True)
                    .filter(sent_at__isnull=True, failed_at__isnull=True)
                    .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
                    .filter(Q(not_before__isnull=True) | Q(not_before__lte=now))
                    .order_by("created_at")
                    .values_list("pk", flat=True)[:OUTBOX_TASK_CHUNK]
                )
            if not batch:
                break
            outbox_send_many(outbox_ids=batch)
        relay_cpu, relay_wall = time.process_time() - cpu, time.perf_counter() - wall
        assert sink.messages == n, sink.messages
        print(
            f"relay: {n} emails in {polls} polls; {relay_wall:.2f} s wall, "
            f"{relay_cpu / n * 1e3:.2f} ms CPU an email (poll and send)"
        )
    finally:
        sink.stop()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 2000)
