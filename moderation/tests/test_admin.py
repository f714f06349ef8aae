"""The audit record in the admin: shown on the pledge, never edited or deleted."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import create_pledge
from moderation.models import ModerationEvent
from moderation.services import pledge_moderate
from pledges.models import Pledge

pytestmark = pytest.mark.django_db


def _pledge(campaign: Any, *, text: str, email: str) -> Pledge:
    return create_pledge(
        campaign,
        text=text,
        display_name="Ana",
        role="Social worker",
        organisation="Kent County Council",
        region="south-east",
        sectors=["social-care"],
        email=email,
    )


def _client_for(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_audit_record_shows_on_the_pledge_and_cannot_be_edited_or_deleted(
    pre_campaign: Any, organiser: Any, django_user_model: Any
) -> None:
    pledge = _pledge(pre_campaign, text="read every complaint letter our team gets", email="d@example.org")
    pledge_moderate(pledge_ids=[pledge.pk], action="reject", actor=organiser, reason_code="not-a-pledge")
    event = ModerationEvent.objects.get()
    admin_user = django_user_model.objects.create_superuser(
        "root@example.org", "root@example.org", "pw-root-1"
    )
    client = _client_for(admin_user)

    page = client.get(f"/admin/pledges/pledge/{pledge.pk}/change/").content.decode()
    assert "Not a pledge" in page and "organiser@example.org" in page

    change = client.get(f"/admin/moderation/moderationevent/{event.pk}/change/")
    assert 'name="_save"' not in change.content.decode()
    client.post(
        f"/admin/moderation/moderationevent/{event.pk}/change/",
        {"reason_code": "spam", "to_status": "published"},
    )
    delete = client.post(f"/admin/moderation/moderationevent/{event.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    event.refresh_from_db()
    assert (event.reason_code, event.to_status) == ("not-a-pledge", "rejected")
