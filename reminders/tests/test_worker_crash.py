"""A reminder run of 10,000 recipients survives its worker being killed (the harness in
crash.py): every recipient must be counted exactly once at the SMTP server."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from reminders.models import DeliveryStatus, ReminderDelivery, ReminderRun, ReminderSignup, SignupStatus
from reminders.tasks import reminders_dispatch_task
from reminders.tests.crash import CountingSink, kill_a_worker_mid_run, sink  # noqa: F401 (a fixture)
from reminders.tests.helpers import reminder

pytestmark = pytest.mark.django_db(transaction=True)

RECIPIENTS = 10_000
KILL_AFTER = 2_500


@pytest.mark.redis("the Celery broker")
def test_a_worker_killed_mid_run_and_replaced_delivers_every_reminder_exactly_once(
    make_campaign: Any,
    sink: tuple[CountingSink, int],  # noqa: F811 (the fixture imported above)
    settings: Any,
    tmp_path: Path,
) -> None:
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

    kill_a_worker_mid_run(
        counter=counter,
        port=port,
        settings=settings,
        tmp_path=tmp_path,
        recipients=RECIPIENTS,
        kill_after=KILL_AFTER,
    )

    duplicates = counter.duplicates()
    missing = RECIPIENTS - len(counter.received)
    print(f"delivered {counter.total()}, duplicates {len(duplicates)}, missing {missing}")
    assert duplicates == {}
    assert missing == 0
    assert counter.total() == RECIPIENTS
    statuses = Counter(ReminderDelivery.objects.values_list("status", flat=True))
    assert statuses == {DeliveryStatus.SENT: RECIPIENTS}
    reminders_dispatch_task()
    assert ReminderRun.objects.get().finished_at is not None
