"""The honeypot on public forms: people never see it, robots fill it, and a
robot's submission is answered like a person's while nothing is stored."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.test import Client

from conftest import create_pledge
from moderation.models import Report
from outbox.models import OutboxEmail
from pledges.models import Pledge


def _honeypot_block(html: str) -> str:
    # The pledge form hides its default submit button the same way; the honeypot is the
    # hidden block holding the "website" field.
    blocks = re.findall(r'<div[^>]*class="[^"]*\bcd-hp\b[^"]*"[^>]*>.*?</div>', html, re.S)
    found = [block for block in blocks if 'id="id_website"' in block or 'name="website"' in block]
    assert found, "no honeypot on the page"
    return found[0]


def test_a_filled_honeypot_on_the_pledge_form_looks_like_success_and_stores_nothing(
    client: Client, campaign: Any, pledge_data: dict[str, Any]
) -> None:
    response = client.post(
        f"/campaigns/{campaign.slug}/pledge/", {**pledge_data, "website": "https://cheap-pills.example"}
    )
    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.slug}/pledge/sent/"
    assert not Pledge.objects.exists()
    assert not OutboxEmail.objects.exists()
    # A person who leaves it empty pledges as usual, and the same page follows.
    response = client.post(f"/campaigns/{campaign.slug}/pledge/", {**pledge_data, "website": ""})
    assert response["Location"] == f"/campaigns/{campaign.slug}/pledge/sent/"
    assert Pledge.objects.count() == 1


def test_a_filled_honeypot_on_the_report_form_gets_the_same_thanks_and_no_report(
    client: Client, campaign: Any
) -> None:
    pledge = create_pledge(campaign)
    response = client.post(
        f"/pledges/{pledge.public_id}/report/", {"reason": "spam", "website": "x"}, follow=True
    )
    assert response.status_code == 200
    assert "Thank you. An organiser will look at this pledge." in response.content.decode()
    assert not Report.objects.exists()
    client.post(f"/pledges/{pledge.public_id}/report/", {"reason": "spam"})
    assert Report.objects.count() == 1


def test_the_honeypot_is_hidden_from_people_and_screen_readers_without_an_inline_style(
    client: Client, campaign: Any
) -> None:
    pledge = create_pledge(campaign)
    pages = [f"/campaigns/{campaign.slug}/pledge/", f"/pledges/{pledge.public_id}/"]
    for url in pages:
        block = _honeypot_block(client.get(url).content.decode())
        assert 'aria-hidden="true"' in block
        assert 'name="website"' in block
        assert 'tabindex="-1"' in block
        assert 'autocomplete="off"' in block
        assert "style=" not in block
        assert " required" not in block
    css = (Path(django_settings.BASE_DIR) / "static" / "css" / "changeday.css").read_text()
    rule = css.split(".cd-hp {", 1)[1].split("}", 1)[0]
    assert "left: -10000px" in rule and "position: absolute" in rule


def test_a_form_with_errors_and_a_filled_honeypot_shows_the_errors_as_for_anyone(
    client: Client, campaign: Any, pledge_data: dict[str, Any]
) -> None:
    response = client.post(
        f"/campaigns/{campaign.slug}/pledge/", {**pledge_data, "text": "", "website": "https://spam.example"}
    )
    assert response.status_code == 400
    assert "Write your pledge." in response.content.decode()
    assert not Pledge.objects.exists()
