"""The audit record in the admin: shown on the pledge, never edited or deleted."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import create_pledge
from moderation.models import ModerationEvent
from moderation.services import pledge_moderate

pytestmark = pytest.mark.django_db


def test_the_audit_record_shows_on_the_pledge_and_cannot_be_edited_or_deleted(
    pre_campaign: Any, organiser: Any, admin_client: Client
) -> None:
    pledge = create_pledge(
        pre_campaign, text="read every complaint letter our team gets", email="d@example.org"
    )
    pledge_moderate(pledge_ids=[pledge.pk], action="reject", actor=organiser, reason_code="not-a-pledge")
    event = ModerationEvent.objects.get()
    client = admin_client

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
