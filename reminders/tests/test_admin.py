from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.test import Client, RequestFactory
from django.utils import timezone

from campaigns.models import Campaign
from reminders.admin import ReminderInline
from reminders.models import Anchor, Reminder
from reminders.tests.helpers import campaign_admin_form, campaign_admin_values, reminder

pytestmark = pytest.mark.django_db


def test_an_organiser_edits_the_schedule_on_the_campaign_page_and_a_new_campaign_gets_the_usual_one(
    organiser: Any, campaign: Campaign
) -> None:
    client = Client()
    client.force_login(organiser)
    now = timezone.now()
    values = campaign_admin_values(
        "admin-day",
        opens=now,
        deadline=now + timedelta(days=40),
        change_day=(now + timedelta(days=20)).date(),
    )
    response = client.post("/admin/campaigns/campaign/add/", campaign_admin_form(values, []))
    assert response.status_code == 302, response.content.decode()[:3000]
    made = Campaign.objects.get(slug="admin-day")
    labels = sorted(r.label for r in Reminder.objects.filter(campaign=made))
    assert labels == [
        "1 day before the deadline",
        "7 days before the deadline",
        "Follow-through 14 days after Change Day",
        "Follow-through 45 days after the deadline",
        "Follow-through 7 days after the deadline",
        "The eve of Change Day",
    ]

    week = reminder(campaign, days_before=7)
    page = client.get(f"/admin/campaigns/campaign/{campaign.pk}/change/").content.decode()
    assert "Due (UK time)" in page and "Not started" in page

    values = campaign_admin_values(
        campaign.slug, opens=campaign.opens_at, deadline=campaign.deadline, change_day=campaign.change_day
    )
    values["name"] = campaign.name
    rows = [
        {
            "id": str(week.pk),
            "campaign": str(campaign.pk),
            "anchor": "deadline",
            "days_before": "10",
            "send_time": "08:30:00",
            "audience": "everyone",
            "message": "",
        },
        {
            "campaign": str(campaign.pk),
            "anchor": "deadline",
            "days_before": "0",
            "send_time": "23:59:59",
            "audience": "everyone",
            "message": "",
        },
    ]
    refused = client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/", campaign_admin_form(values, rows, 1)
    )
    assert refused.status_code == 200
    assert "after the pledge deadline" in refused.content.decode()

    rows[1]["send_time"] = "00:00:00"
    saved = client.post(
        f"/admin/campaigns/campaign/{campaign.pk}/change/", campaign_admin_form(values, rows, 1)
    )
    assert saved.status_code == 302
    week.refresh_from_db()
    assert (week.days_before, week.send_time.isoformat()) == (10, "08:30:00")
    assert Reminder.objects.filter(campaign=campaign, anchor=Anchor.DEADLINE, days_before=0).exists()


def test_the_schedule_is_contributed_to_the_campaign_admin_once_even_if_start_up_runs_again(
    organiser: Any,
) -> None:
    # campaigns sits below reminders and imports none of it: the inline is added at start-up.
    apps.get_app_config("reminders").ready()
    request = RequestFactory().get("/admin/campaigns/campaign/add/")
    request.user = organiser

    inlines = admin.site.get_model_admin(Campaign).get_inlines(request, None)

    assert inlines.count(ReminderInline) == 1
