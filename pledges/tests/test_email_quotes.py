"""Our emails cannot be used against their recipients: none quotes a pledge that screening
flagged, and none carries a link, an email address or a phone number a visitor typed, in its
text or its HTML, whatever mail client reads it. Through the form, the emailed link, the
moderation queue and a reminder run, over real SMTP and a real Celery worker."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from pledges.models import Pledge, Status
from reminders.tests.helpers import reminder, run_due
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db(transaction=True)

CONFIRM = re.compile(r"http://testserver(/pledges/confirm/[^/\s\"<]+/)")

# What a phisher types into every field of the pledge form. Screening flags it all (a link, an
# email address, a phone number), so no email may quote any of it.
FLAGGED = {
    "text": (
        "teach zanzibar handwashing: log in at www.evil.example/login or https://evil.example, "
        'write to help@evil.example, call +44 20 7946 0000, <a href="https://evil.example/x">here</a>'
    ),
    "display_name": 'Mallory <a href="https://evil.example/n">www.evil.example/login</a>',
    "role": "Phisher, help@evil.example, +44 20 7946 0000",
    "organisation": '<a href="https://evil.example/o">Evil Org</a> www.evil.example/login',
}
# The same, written so that screening lets it through: domains it does not take for links
# (an unknown top-level domain, a capitalised one), a number that is not British, markup.
UNFLAGGED = {
    "text": (
        "teach zanzibar handwashing, with the guide at evil.example/login and Evil.Com/reset, "
        "ring (555) 010-4477, <a href=evil.example/x>click here</a>"
    ),
    "display_name": "Mallory <a href=evil.example/n>me</a>",
    "role": "Nurse, see evil.example/jobs",
    "organisation": "<a href=evil.example/o>Evil Org</a>",
}
# None of these may reach an inbox, in either part of any email.
PLANTED = [
    "evil.example",
    "evil。example",
    "Evil.Com",
    "help@",
    "7946",
    "(555)",
    "010-4477",
    "Mallory",
    "Phisher",
    "Evil Org",
]


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value or "" for name, value in attrs if name in ("href", "src", "action")]


def _links_in(html: str) -> list[str]:
    parser = _Links()
    parser.feed(html)
    parser.close()
    return parser.urls


def _assert_safe(message: Any, *, quotes: bool) -> tuple[str, str]:
    """The email carries nothing the visitor planted, links only to our site, and quotes the
    pledge's own words only when it may."""
    text, html = email_text(message), email_html(message)
    for part, body in (("text", text), ("HTML", html)):
        for planted in PLANTED:
            assert planted.lower() not in body.lower(), f"{planted!r} in the {part} of {message['Subject']!r}"
        assert ("zanzibar" in body) is quotes, f"the {part} of {message['Subject']!r}"
    links = _links_in(html)
    assert all(url.startswith(f"{settings.SITE_URL}/") for url in links), links
    # What a visitor typed shows as text in the HTML part, never as markup.
    assert "<a href=evil" not in html and '<a href="https://evil' not in html
    return text, html


def _pledge(client: Client, campaign: Any, typed: dict[str, str], email: str, address: str) -> Any:
    data = {
        **typed,
        "region": "london",
        "kind": "personal",
        "sectors": ["nhs"],
        "email": email,
        "consent_to_publish": "on",
        "wants_reminders": "on",
        "submission_token": str(uuid.uuid4()),
    }
    response = client.post(f"/campaigns/{campaign.slug}/pledge/", data, REMOTE_ADDR=address)
    assert response.status_code == 302, response.content.decode()[:2000]
    return response


def _decide(organiser: Any, pledge: Pledge, action: str, **extra: str) -> None:
    client = Client()
    client.force_login(organiser)
    data = {"action": action, "pledge": f"{pledge.public_id}:{pledge.status}", "return_to": "", **extra}
    assert client.post("/moderation/decide/", data).status_code == 302


def _journey(campaign: Any, organiser: Any, inbox: Any, typed: dict[str, str], *, quotes: bool) -> None:
    """Two visitors pledge what `typed` holds and confirm from their emails; an organiser
    publishes one and rejects the other; the published one gets a reminder. Each email is checked."""
    visitor = Client()
    _pledge(visitor, campaign, typed, "victim@example.org", "192.0.2.10")
    [confirmation] = inbox.wait_for(1)
    assert confirmation["To"] == "victim@example.org"
    text, html = _assert_safe(confirmation, quotes=quotes)
    assert "your pledge" in text.lower() and "your pledge" in html.lower()
    visitor.post(CONFIRM.search(text).group(1))
    kept = Pledge.objects.get(email="victim@example.org")
    assert kept.status == Status.PENDING and bool(kept.flags) is not quotes

    _pledge(
        Client(), campaign, {**typed, "text": typed["text"] + " again"}, "other@example.org", "192.0.2.20"
    )
    second = inbox.wait_for(2)[1]
    _assert_safe(second, quotes=quotes)
    Client().post(CONFIRM.search(email_text(second)).group(1))
    refused = Pledge.objects.get(email="other@example.org")

    _decide(organiser, kept, "publish")
    _decide(
        organiser, refused, "reject", reason_code="spam", reason_text="It sends people to evil.example/login"
    )
    published, rejected = sorted(
        inbox.wait_for(4)[2:], key=lambda message: "not published" in message["Subject"]
    )
    assert "is live" in published["Subject"] and "not published" in rejected["Subject"]
    _assert_safe(published, quotes=quotes)
    _assert_safe(rejected, quotes=quotes)

    week = reminder(campaign)
    run_due(now=week.due_at() + timedelta(minutes=1))
    [reminded] = inbox.wait_for(5)[4:]
    assert reminded["To"] == "victim@example.org"
    _assert_safe(reminded, quotes=quotes)


def test_a_flagged_pledge_is_never_quoted_and_no_email_carries_what_its_visitor_typed(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    _journey(pre_campaign, organiser, smtp_inbox, FLAGGED, quotes=False)
    # Five emails went (two confirmations, the decisions, a reminder), and none quotes a word of it.
    assert len(smtp_inbox.messages) == 5
    assert not any("zanzibar" in email_text(message) for message in smtp_inbox.messages)


def test_a_pledge_quoted_in_an_email_has_every_link_address_and_number_taken_out(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any, celery_worker: Any
) -> None:
    _journey(pre_campaign, organiser, smtp_inbox, UNFLAGGED, quotes=True)
    # The pledger still reads their promise, with a marker where the links were.
    confirmation = smtp_inbox.messages[0]
    assert "[link removed]" in email_text(confirmation) and "[link removed]" in email_html(confirmation)
    assert "[phone number removed]" in email_text(confirmation)
