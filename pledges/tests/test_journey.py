"""The whole pledge journey through real SMTP and a real Celery worker."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client

from pledges.models import Pledge, Status
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db(transaction=True)

LINK = re.compile(r"http://testserver(/pledges/confirm/[^/\s\"<]+/)")


def _submit(client: Client, campaign: Any, data: dict[str, Any]) -> Any:
    return client.post(f"/campaigns/{campaign.slug}/pledge/", data)


def test_a_visitor_pledges_confirms_by_email_and_sees_the_permalink(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any, celery_worker: Any
) -> None:
    client = Client()
    home = client.get("/")
    assert campaign.name in home.content.decode()
    assert f"/campaigns/{campaign.slug}/pledge/" in home.content.decode()

    response = _submit(client, campaign, pledge_data)
    assert response.status_code == 302
    sent = client.get(response["Location"])
    assert "Check your email" in sent.content.decode()

    [message] = smtp_inbox.wait_for(1)
    assert message["To"] == pledge_data["email"]
    assert "Confirm your pledge" in message["Subject"]
    text, html = email_text(message), email_html(message)
    assert pledge_data["text"] in text and pledge_data["text"] in html
    path = LINK.search(text).group(1)
    assert path in html

    pledge = Pledge.objects.get()
    assert pledge.status == Status.UNCONFIRMED
    assert not client.get(f"/pledges/{pledge.public_id}/").status_code == 200

    # A mail scanner's GET must not confirm; the button's POST does.
    landing = client.get(path)
    assert landing.status_code == 200 and "Confirm my pledge" in landing.content.decode()
    pledge.refresh_from_db()
    assert pledge.status == Status.UNCONFIRMED

    confirmed = client.post(path)
    assert confirmed["Location"] == f"/pledges/{pledge.public_id}/"
    permalink = Client().get(confirmed["Location"])
    body = permalink.content.decode()
    assert permalink.status_code == 200
    assert pledge_data["text"] in body
    assert "hashtags=ChangeDay" in body
    assert pledge_data["email"] not in body
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED and pledge.published_at is not None
    assert sorted(pledge.sectors.values_list("slug", flat=True)) == ["nhs", "social-care"]
