"""A reminder run of 10,000 recipients survives its worker being killed.

A real Celery worker runs as a separate process (prefork, two children) against
the test database and Redis, sending to a real SMTP server on loopback. Part way
through, the whole worker is killed with SIGKILL; a new one is started and the
beat task's dispatch runs every few seconds, as in production. Every recipient
must then be counted exactly once at the SMTP server.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.utils import timezone

from reminders.models import DeliveryStatus, ReminderDelivery, ReminderRun, ReminderSignup, SignupStatus
from reminders.tasks import reminders_dispatch_task
from reminders.tests.helpers import reminder
from testsupport import processes

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 10_000
KILL_AFTER = 2_500


class CountingSink:
    """Counts each message once per recipient, as a mail provider bills them."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.received.update(envelope.rcpt_tos)
        return "250 OK"

    def total(self) -> int:
        with self._lock:
            return sum(self.received.values())


@pytest.fixture
def sink() -> Iterator[tuple[CountingSink, int]]:
    handler = CountingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=processes.free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@pytest.mark.redis("the Celery broker")
def test_a_worker_killed_mid_run_and_replaced_delivers_every_reminder_exactly_once(
    make_campaign: Any, sink: tuple[CountingSink, int], settings: Any, tmp_path: Path
) -> None:
    from changeday.celery import app

    counter, port = sink
    now = timezone.now()
    # The deadline is three days away, so "7 days before the deadline" is due now.
    campaign = make_campaign(change_day=(now + timedelta(days=1)).date(), deadline=now + timedelta(days=3))
    # 10,000 sign-ups one by one through the service would take minutes; the
    # sign-up path itself is tested in test_signup.py.
    ReminderSignup.objects.bulk_create(
        ReminderSignup(
            campaign=campaign,
            email=f"carer{n:05}@example.org",
            email_canonical=f"carer{n:05}@example.org",
            status=SignupStatus.CONFIRMED,
            confirmed_at=now,
        )
        for n in range(RECIPIENTS)
    )
    assert reminder(campaign, days_before=7).due_at() <= now

    settings.REMINDER_BATCH_SIZE = 250
    settings.REMINDER_REQUEUE_SECONDS = 0
    app.control.purge()
    env = processes.django_env(
        DATABASE_URL=processes.database_url(),
        REDIS_URL=django_settings.REDIS_URL,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        REMINDER_SEND_RATE="0",
        # A short claim, so the rows the killed worker held come back quickly.
        REMINDER_CLAIM_SECONDS="5",
    )

    def start_worker(name: str) -> processes.AppProcess:
        return processes.celery_worker(
            env=env, log=tmp_path / f"{name}.log", name=name, pool="prefork", concurrency=2
        )

    first = start_worker("first")
    second = None
    try:
        reminders_dispatch_task()
        processes.wait_until(lambda: counter.total() >= KILL_AFTER, timeout=180, what="the first messages")
        first.kill()
        at_kill = counter.total()
        time.sleep(0.5)
        print(f"worker killed after {at_kill} of {RECIPIENTS} messages")
        assert at_kill < RECIPIENTS, "the kill came too late to test anything"

        second = start_worker("second")

        # Beat's dispatch, every few seconds: it hands out again what the dead
        # worker held once its claims lapse.
        def all_arrived() -> bool:
            if counter.total() >= RECIPIENTS:
                return True
            reminders_dispatch_task()
            return False

        processes.wait_until(all_arrived, timeout=300, what=f"all {RECIPIENTS} messages", interval=3)
        time.sleep(2)  # anything still in flight would show up as a duplicate now
    finally:
        first.kill()
        if second is not None:
            second.stop()

    duplicates = {address: n for address, n in counter.received.items() if n > 1}
    missing = RECIPIENTS - len(counter.received)
    print(f"delivered {counter.total()}, duplicates {len(duplicates)}, missing {missing}")
    assert duplicates == {}
    assert missing == 0
    assert counter.total() == RECIPIENTS
    statuses = Counter(ReminderDelivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}
    reminders_dispatch_task()
    assert ReminderRun.objects.get().finished_at is not None
