"""A follow-through run of 10,000 addresses survives its worker being killed, as a reminder
run does (the harness in crash.py). Every address is asked exactly once."""

from __future__ import annotations

from collections import Counter
from datetime import time as clock_time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from pledges.models import Pledge, Status
from reminders.models import Anchor, Audience, DeliveryStatus, ReminderDelivery, ReminderRun
from reminders.tasks import reminders_dispatch_task
from reminders.tests.crash import CountingSink, kill_a_worker_mid_run, sink  # noqa: F401 (a fixture)
from reminders.tests.helpers import reminder

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

    kill_a_worker_mid_run(
        counter=counter,
        port=port,
        settings=settings,
        tmp_path=tmp_path,
        recipients=RECIPIENTS,
        kill_after=KILL_AFTER,
    )

    duplicates = counter.duplicates()
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
