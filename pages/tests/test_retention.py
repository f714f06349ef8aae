"""Retention is real: a set time after a campaign's outcomes close, the scheduled job erases
pledgers' addresses, reminder sign-ups, report network hashes and unpublished stories, as the
privacy notice says, and leaves the public words and the totals exactly as they were."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign
from changeday.celery import app
from conftest import create_pledge
from moderation.models import Report
from moderation.services import pledge_report
from outbox.models import Suppression
from outbox.selectors import suppressed
from pages.retention import campaign_personal_data_erase, retention_erase_due
from pledges.models import Pledge, Story, StoryStatus
from pledges.outcomes import pledge_outcome_record
from pledges.selectors import campaign_totals
from pledges.services import campaign_recompute_totals
from reminders.models import DeliveryStatus, ReminderDelivery, ReminderSignup
from reminders.services import reminder_signup_create
from reminders.tests.helpers import reminder, run_due

pytestmark = pytest.mark.django_db


def _campaign_with_people(make_campaign: Any, slug: str = "change-day-2025") -> Campaign:
    campaign = make_campaign(name=f"Campaign {slug}", slug=slug)
    for n in range(1, 6):
        create_pledge(
            campaign, n, email=f"{slug}-person{n}@example.org", sectors=["nhs", "housing"][: 1 + n % 2]
        )
    create_pledge(campaign, 9, email=f"{slug}-never@example.org", confirm=False)
    published = list(Pledge.objects.filter(campaign=campaign, status="published").order_by("pk"))
    pledge_outcome_record(
        pledge=published[0], outcome="done", story_text="We now hand over at the bedside.", story_public=True
    )
    pledge_outcome_record(pledge=published[1], outcome="started", story_text="Only for me to remember.")
    for network in ("a", "b"):
        pledge_report(pledge=published[2], reporter_key=network * 64, network_key=network * 64, reason="spam")
    reminder_signup_create(campaign=campaign, email=f"{slug}-remind@example.org", send_confirmation=False)
    return campaign


def _close_long_ago(campaign: Campaign, *, outcomes_closed_days_ago: int) -> Campaign:
    now = timezone.now()
    closed = now - timedelta(days=outcomes_closed_days_ago)
    Campaign.objects.filter(pk=campaign.pk).update(
        opens_at=closed - timedelta(days=200),
        change_day=(closed - timedelta(days=150)).date(),
        deadline=closed - timedelta(days=90),
        outcomes_close=closed,
    )
    campaign.refresh_from_db()
    return campaign


def _public_words(campaign: Campaign) -> list[tuple[str, str, str, str, str]]:
    return list(
        Pledge.objects.filter(campaign=campaign)
        .order_by("pk")
        .values_list("public_id", "text", "display_name", "status", "outcome")
    )


def test_the_job_erases_every_address_of_a_campaign_past_its_date_and_keeps_the_counts_exact(
    make_campaign: Any,
) -> None:
    campaign = _close_long_ago(_campaign_with_people(make_campaign), outcomes_closed_days_ago=181)
    words_before = _public_words(campaign)
    totals_before = campaign_totals(campaign=campaign)

    result = retention_erase_due()

    assert result.campaigns == [campaign.slug]
    assert result.addresses == 6
    for pledge in Pledge.objects.filter(campaign=campaign):
        assert "example.org" not in pledge.email + pledge.email_canonical
        assert pledge.email == f"erased-{pledge.public_id}@erased.invalid"
        assert not pledge.wants_reminders and not pledge.wants_follow_through
    assert not ReminderSignup.objects.filter(campaign=campaign).exists()
    assert _public_words(campaign) == words_before
    assert campaign_totals(campaign=campaign) == totals_before
    assert not campaign_recompute_totals(campaign=campaign)  # nothing to repair
    # Report hashes gone, the count that hid or kept the pledge unchanged.
    assert all(
        r.network_key.startswith("erased-") and r.reporter_key.startswith("erased-")
        for r in Report.objects.all()
    )
    assert Pledge.objects.get(pk=Report.objects.first().pledge_id).report_count == 2
    # The published story stays on the wall; the private one is gone.
    assert list(Story.objects.filter(campaign=campaign).values_list("status", flat=True)) == [
        StoryStatus.PUBLISHED
    ]
    campaign.refresh_from_db()
    assert campaign.personal_data_erased_at is not None


def test_a_campaign_before_its_date_and_other_campaigns_are_left_alone(make_campaign: Any) -> None:
    recent = _close_long_ago(_campaign_with_people(make_campaign, "recent"), outcomes_closed_days_ago=179)
    running = _campaign_with_people(make_campaign, "running")

    result = retention_erase_due()

    assert result.campaigns == []
    for campaign in (recent, running):
        assert Pledge.objects.filter(campaign=campaign, email__endswith="@example.org").count() == 6
        assert ReminderSignup.objects.filter(campaign=campaign).count() == 1
    assert Story.objects.count() == 4


def test_a_campaigns_own_retention_period_sets_the_date(make_campaign: Any) -> None:
    campaign = _close_long_ago(_campaign_with_people(make_campaign), outcomes_closed_days_ago=31)
    assert retention_erase_due().campaigns == []
    Campaign.objects.filter(pk=campaign.pk).update(retention_days=30)

    assert retention_erase_due().campaigns == [campaign.slug]
    assert not Pledge.objects.filter(email__endswith="@example.org").exists()


def test_erasing_twice_or_in_small_batches_finds_nothing_more_to_do(make_campaign: Any) -> None:
    campaign = _close_long_ago(_campaign_with_people(make_campaign), outcomes_closed_days_ago=200)

    first = campaign_personal_data_erase(campaign=campaign, batch=2)
    again = campaign_personal_data_erase(campaign=campaign, batch=2)

    assert first.addresses == 6 and first.reports == 2 and first.stories == 1 and first.signups == 1
    assert (again.addresses, again.reports, again.stories, again.signups) == (0, 0, 0, 0)
    assert retention_erase_due().campaigns == []  # marked done: the nightly job skips it


def test_the_privacy_notice_states_the_date_and_then_that_it_happened(
    client: Client, make_campaign: Any
) -> None:
    campaign = _close_long_ago(_campaign_with_people(make_campaign), outcomes_closed_days_ago=10)
    erase_on = campaign.outcomes_close_at + timedelta(days=180)

    before = client.get(f"/campaigns/{campaign.slug}/privacy/").content.decode()
    assert f"On <strong data-erase-date>{timezone.localtime(erase_on):%-d %B %Y}</strong>" in before

    call_command("erase_expired_data", "--campaign", campaign.slug, stdout=open("/dev/null", "w"))  # noqa: SIM115
    after = client.get(f"/campaigns/{campaign.slug}/privacy/").content.decode()
    assert "were erased on" in after
    assert "example.org" not in after


def test_the_command_without_a_campaign_does_what_the_schedule_does(make_campaign: Any, capsys: Any) -> None:
    _close_long_ago(_campaign_with_people(make_campaign), outcomes_closed_days_ago=400)

    call_command("erase_expired_data")

    assert "Erased for 1 campaign(s): 6 addresses" in capsys.readouterr().out
    assert not Pledge.objects.filter(email__endswith="@example.org").exists()


def test_an_unknown_campaign_is_a_clear_error() -> None:
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="No campaign"):
        call_command("erase_expired_data", "--campaign", "nope")


def test_the_job_is_on_the_beat_schedule() -> None:
    tasks = [entry["task"] for entry in app.conf.beat_schedule.values()]
    assert "pages.tasks.retention_erase_task" in tasks


def test_a_mail_servers_refusal_quoting_an_address_is_erased_and_the_suppression_keeps_only_the_canonical_address(  # noqa: E501
    make_campaign: Any, smtp_inbox: Any
) -> None:
    campaign = make_campaign(name="Campaign refused", slug="refused")
    create_pledge(campaign, 1, email="Gone.Away@Example.org", wants_reminders=True)
    create_pledge(campaign, 2, email="still-here@example.org", wants_reminders=True)
    smtp_inbox.refuse["Gone.Away@Example.org"] = "550 5.1.1 <Gone.Away@Example.org>: user unknown"
    due = reminder(campaign, days_before=7)
    run_due(now=due.due_at() + timedelta(minutes=1))
    smtp_inbox.wait_for(1)
    failed = ReminderDelivery.objects.get(status=DeliveryStatus.FAILED)
    assert "Gone.Away@Example.org" in failed.last_error
    assert "Gone.Away@Example.org" in Suppression.objects.get().detail

    campaign_personal_data_erase(campaign=_close_long_ago(campaign, outcomes_closed_days_ago=200))

    for delivery in ReminderDelivery.objects.all():
        assert "example.org" not in (delivery.recipient + delivery.last_error).lower()
    # Still never mailed again, by any campaign: the one form we match it by, and nothing more.
    entry = Suppression.objects.get()
    assert (entry.email_canonical, entry.lifted_at, entry.detail) == ("gone.away@example.org", None, "")
    assert suppressed(["gone.away@example.org"]) == {"gone.away@example.org"}
