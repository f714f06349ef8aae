"""Public pages read their campaign from a two-second per-process memo
(campaigns.selectors.campaign_for_visitors): an organiser's edit must still reach
pledgers at once in the process that made it, and within the memo's time elsewhere."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from campaigns import selectors
from campaigns.models import Campaign
from campaigns.selectors import CAMPAIGN_MEMO_SECONDS, campaign_for_visitors
from pledges.models import Pledge

pytestmark = pytest.mark.django_db


def test_closing_a_campaign_early_stops_pledges_at_once(campaign: Any, pledge_data: dict[str, Any]) -> None:
    client = Client()
    assert client.get(f"/campaigns/{campaign.slug}/pledge/").status_code == 200  # now remembered

    campaign.deadline = timezone.now() - timedelta(minutes=1)
    campaign.save()

    response = client.post(f"/campaigns/{campaign.slug}/pledge/", pledge_data)
    assert response.status_code == 403
    assert "Pledging closed" in response.content.decode()
    assert not Pledge.objects.exists()


def test_an_edit_made_by_another_process_shows_within_the_memo_time(
    campaign: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert campaign_for_visitors(campaign.slug).name == campaign.name
    # What another web process does: the row changes and this process hears nothing.
    Campaign.objects.filter(pk=campaign.pk).update(name="Change Day, renamed")
    assert campaign_for_visitors(campaign.slug).name == campaign.name

    later = selectors.time.monotonic() + CAMPAIGN_MEMO_SECONDS + 0.01
    monkeypatch.setattr(selectors.time, "monotonic", lambda: later)
    assert campaign_for_visitors(campaign.slug).name == "Change Day, renamed"
    assert Client().get(f"/campaigns/{campaign.slug}/").content.decode().count("Change Day, renamed") >= 1


def test_a_deleted_campaign_is_a_404_at_once_and_an_unknown_slug_is_never_remembered(campaign: Any) -> None:
    client = Client()
    assert client.get(f"/campaigns/{campaign.slug}/wall/").status_code == 200
    campaign.delete()
    assert client.get(f"/campaigns/{campaign.slug}/wall/").status_code == 404

    for n in range(50):
        assert campaign_for_visitors(f"no-such-campaign-{n}") is None
    assert not any(slug.startswith("no-such-campaign") for slug in selectors._memo)


def test_what_one_request_does_to_its_campaign_stays_out_of_the_next(campaign: Any) -> None:
    first = campaign_for_visitors(campaign.slug)
    first.name = "changed in memory only"
    assert campaign_for_visitors(campaign.slug).name == campaign.name
