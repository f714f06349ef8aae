"""A follow-through run of 10,000 addresses survives its worker being killed, as a reminder
run does (test_worker_crash.py, whose SMTP counter this reuses): a real Celery worker
(prefork, two children) sends to a real SMTP server on loopback, is killed with SIGKILL part
way, and a new one finishes the run from the beat task's dispatch. Every address is asked
exactly once."""

from __future__ import annotations

import time
from collections import Counter
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import timezone

from pledges.models import Pledge, Status
from reminders.models import Anchor, Audience, DeliveryStatus, ReminderDelivery, ReminderRun
from reminders.tasks import reminders_dispatch_task
from reminders.tests.helpers import reminder
from reminders.tests.test_worker_crash import CountingSink, sink  # noqa: F401 (a fixture)
from testsupport import processes

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 10_000
KILL_AFTER = 2_500


@pytest.mark.postgres_only("the pledges are loaded with COPY, and the worker processes share the database")
@pytest.mark.redis("the Celery broker")
def test_a_worker_killed_mid_follow_through_and_replaced_asks_every_address_exactly_once(
    make_campaign: Any,
    sink: tuple[CountingSink, int],  # noqa: F811 (the fixture imported above)
    settings: Any,
    tmp_path: Path,
) -> None:
    from changeday.celery import app

    counter, port = sink
    now = timezone.now()
    # Change Day three weeks ago: "14 days after Change Day" is due now, pledging still open.
    campaign = make_campaign(
        opens_at=now - timedelta(days=40),
        change_day=(now - timedelta(days=21)).date(),
        deadline=now + timedelta(days=10),
    )
    # 10,000 published pledges, one address each, through the benchmarks' bulk loader: the
    # pledge path itself is tested elsewhere.
    call_command("load_pledges", campaign=campaign.slug, count=RECIPIENTS, verbosity=0)
    assert Pledge.objects.filter(
        campaign=campaign, status=Status.PUBLISHED, wants_follow_through=True
    ).count() == (RECIPIENTS)
    moment = reminder(
        campaign,
        anchor=Anchor.AFTER_CHANGE_DAY,
        days_before=0,
        days_after=14,
        send_time=clock_time(10, 0),
        audience=Audience.FOLLOW_ALL,
    )
    assert moment.due_at() <= now

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
    expected = set(Pledge.objects.filter(campaign=campaign).values_list("email", flat=True))
    missing = expected - set(counter.received)
    print(f"delivered {counter.total()}, duplicates {len(duplicates)}, missing {len(missing)}")
    assert duplicates == {}
    assert missing == set()
    assert counter.total() == RECIPIENTS
    statuses = Counter(ReminderDelivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}
    reminders_dispatch_task()
    assert ReminderRun.objects.get().finished_at is not None
