"""Pledges never confirmed are deleted once no confirmation link for them can
still work (7 days), by a scheduled task and by a management command."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Campaign
from changeday.celery import app
from conftest import create_pledge
from outbox.models import OutboxEmail
from pledges import privacy, services
from pledges.models import Pledge, Status
from pledges.selectors import campaign_totals
from pledges.tasks import purge_unconfirmed_task


def backdate(pledge: Pledge, days: int) -> None:
    # created_at is set by the database on insert; the purge reads it, so a
    # pledge "made 8 days ago" is one whose row says so.
    Pledge.objects.filter(pk=pledge.pk).update(created_at=timezone.now() - timedelta(days=days))


def test_an_unconfirmed_pledge_is_kept_for_seven_days_and_purged_after(campaign: Campaign) -> None:
    pledge = create_pledge(campaign, 1, confirm=False, send_confirmation=True)
    now = timezone.now()

    assert privacy.pledge_purge_unconfirmed(now=now + timedelta(days=6, hours=23)) == 0
    assert Pledge.objects.filter(pk=pledge.pk).exists()

    assert privacy.pledge_purge_unconfirmed(now=now + timedelta(days=7, minutes=1)) == 1
    assert not Pledge.objects.filter(pk=pledge.pk).exists()
    assert not OutboxEmail.objects.filter(subject_id=pledge.pk).exists()


def test_confirmed_pledges_of_any_age_are_never_purged_and_the_totals_do_not_move(
    campaign: Campaign, pre_campaign: Campaign
) -> None:
    published = create_pledge(campaign, 1)
    pending = create_pledge(pre_campaign, 2)
    withdrawn = services.pledge_withdraw(pledge=create_pledge(campaign, 3, confirm=False))
    abandoned = create_pledge(campaign, 4, confirm=False)
    before = campaign_totals(campaign=campaign)

    purged = privacy.pledge_purge_unconfirmed(now=timezone.now() + timedelta(days=365))

    assert purged == 1
    assert set(Pledge.objects.values_list("pk", flat=True)) == {published.pk, pending.pk, withdrawn.pk}
    assert not Pledge.objects.filter(pk=abandoned.pk).exists()
    assert campaign_totals(campaign=campaign).total == before.total == 1


def test_a_pledge_whose_confirmation_was_resent_this_week_is_kept(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    token = uuid.uuid4()
    values = {**pledge_data, "sectors": ["nhs"], "is_anonymous": False, "submission_token": token}
    values.update(consent_to_publish=True, wants_reminders=False)
    pledge = services.pledge_create(campaign=campaign, **values).pledge
    backdate(pledge, days=8)
    OutboxEmail.objects.filter(subject_id=pledge.pk).update(created_at=timezone.now() - timedelta(days=8))
    # The pledger comes back and submits the same promise: a fresh link goes out today.
    services.pledge_create(campaign=campaign, **{**values, "submission_token": uuid.uuid4()})
    assert OutboxEmail.objects.filter(subject_id=pledge.pk).count() == 2

    assert privacy.pledge_purge_unconfirmed() == 0
    assert Pledge.objects.get(pk=pledge.pk).status == Status.UNCONFIRMED


def test_the_purge_works_through_many_pledges_in_batches(campaign: Campaign) -> None:
    for n in range(7):
        create_pledge(campaign, n, confirm=False)

    purged = privacy.pledge_purge_unconfirmed(now=timezone.now() + timedelta(days=8), batch_size=3)

    assert purged == 7
    assert not Pledge.objects.exists()


def test_the_management_command_purges_and_says_how_many(campaign: Campaign) -> None:
    old = create_pledge(campaign, 1, confirm=False)
    recent = create_pledge(campaign, 2, confirm=False)
    backdate(old, days=8)
    out = StringIO()

    call_command("purge_unconfirmed", stdout=out)

    assert out.getvalue().splitlines() == ["pledges: purged 1", "reminder sign-ups: purged 0"]
    assert list(Pledge.objects.values_list("pk", flat=True)) == [recent.pk]


@pytest.mark.redis("the Celery broker")
def test_the_hourly_beat_task_purges_through_a_real_worker(campaign: Campaign, celery_worker: Any) -> None:
    entry = app.conf.beat_schedule["purge-unconfirmed"]
    assert (entry["task"], entry["schedule"]) == (purge_unconfirmed_task.name, 3600.0)
    old = create_pledge(campaign, 1, confirm=False)
    backdate(old, days=8)

    purge_unconfirmed_task.delay()

    deadline = time.monotonic() + 20
    while Pledge.objects.filter(pk=old.pk).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not Pledge.objects.filter(pk=old.pk).exists()
