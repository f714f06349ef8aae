"""A pledger's email address is private: no public page shows it, and the
confirmation email goes to the pledger alone."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.http import HttpResponse
from django.test import Client

from campaigns.models import Campaign
from pledges import services
from pledges.models import Pledge
from testsupport.mail import email_html, email_text

# Distinctive enough that no page could contain them by chance.
EMAILS = [
    "quokka.ward7@example.org",
    "Zebra_Carer+pledge@nhs-example.net",
    "okapi-housing@council-example.gov.uk",
]
PRE_EMAIL = "narwhal.pending@example.org"


def local_parts() -> list[str]:
    return [address.split("@", 1)[0] for address in [*EMAILS, PRE_EMAIL]]


def submit(client: Client, campaign: Campaign, data: dict[str, Any]) -> HttpResponse:
    return client.post(f"/campaigns/{campaign.slug}/pledge/", data)


def confirm_path(pledge: Pledge) -> str:
    return urlsplit(services.pledge_confirmation_url(pledge=pledge)).path


def pledge_from(
    client: Client, campaign: Campaign, pledge_data: dict[str, Any], email: str, number: int
) -> tuple[Pledge, HttpResponse]:
    data = {
        **pledge_data,
        "email": email,
        "display_name": f"Pledger {number}",
        "text": f"{pledge_data['text']} (promise {number})",
        "submission_token": str(uuid.uuid4()),
    }
    response = submit(client, campaign, data)
    assert response.status_code == 302
    return Pledge.objects.get(email=email), response


@pytest.fixture
def public_pages(
    campaign: Campaign, pre_campaign: Campaign, pledge_data: dict[str, Any]
) -> dict[str, HttpResponse]:
    """Every public page, fetched after several people pledged."""
    pages: dict[str, HttpResponse] = {}
    browsers = [Client() for _ in EMAILS]
    pledges = []
    for number, (browser, email) in enumerate(zip(browsers, EMAILS, strict=True)):
        pledge, response = pledge_from(browser, campaign, pledge_data, email, number)
        pledges.append(pledge)
        pages[f"form answer {number}"] = response
    # The first two are confirmed and published; the third still waits.
    for browser, pledge in zip(browsers[:2], pledges[:2], strict=True):
        pages["confirm answer"] = browser.post(confirm_path(pledge))

    owner = Client()
    pending, _ = pledge_from(owner, pre_campaign, pledge_data, PRE_EMAIL, 9)
    owner.post(confirm_path(pending))

    visitor = Client()
    pages["home"] = visitor.get("/")
    pages["campaign"] = visitor.get(f"/campaigns/{campaign.slug}/")
    pages["pre-moderated campaign"] = visitor.get(f"/campaigns/{pre_campaign.slug}/")
    pages["pledge form"] = visitor.get(f"/campaigns/{campaign.slug}/pledge/")
    # The sent page shows the pledger's own address in their own browser only (test_words);
    # anyone else opening it sees none.
    pages["sent"] = visitor.get(f"/campaigns/{campaign.slug}/pledge/sent/")
    pages["confirm landing"] = browsers[2].get(confirm_path(pledges[2]))
    pages["confirm landing for a stranger"] = visitor.get(confirm_path(pledges[2]))
    pages["permalink"] = visitor.get(f"/pledges/{pledges[0].public_id}/")
    pages["permalink, owner view"] = browsers[0].get(f"/pledges/{pledges[0].public_id}/")
    pages["pending permalink, owner view"] = owner.get(f"/pledges/{pending.public_id}/")
    pages["pending permalink, visitor"] = visitor.get(f"/pledges/{pending.public_id}/")
    pages["unconfirmed permalink"] = visitor.get(f"/pledges/{pledges[2].public_id}/")
    pages["404"] = visitor.get("/pledges/nosuchpledge/")

    expected = {
        "home": 200,
        "campaign": 200,
        "pre-moderated campaign": 200,
        "pledge form": 200,
        "sent": 200,
        "confirm landing": 200,
        "confirm landing for a stranger": 200,
        "permalink": 200,
        "permalink, owner view": 200,
        "pending permalink, owner view": 200,
        "pending permalink, visitor": 404,
        "unconfirmed permalink": 404,
        "404": 404,
    }
    for name, status in expected.items():
        assert pages[name].status_code == status, name
    # The pages show the pledges themselves, so the check below means something.
    assert "(promise 0)" in pages["permalink"].content.decode()
    assert "(promise 9)" in pages["pending permalink, owner view"].content.decode()
    assert "(promise 2)" in pages["confirm landing"].content.decode()
    return pages


PAGE_NAMES = [
    "home",
    "campaign",
    "pre-moderated campaign",
    "pledge form",
    "form answer 0",
    "sent",
    "confirm answer",
    "confirm landing",
    "confirm landing for a stranger",
    "permalink",
    "permalink, owner view",
    "pending permalink, owner view",
    "pending permalink, visitor",
    "unconfirmed permalink",
    "404",
]


@pytest.mark.django_db
@pytest.mark.parametrize("page", PAGE_NAMES)
def test_no_pledger_email_appears_on_a_public_page(public_pages: dict[str, HttpResponse], page: str) -> None:
    response = public_pages[page]
    seen = (response.content.decode() + str(response.headers)).lower()

    for address in [*EMAILS, PRE_EMAIL]:
        assert address.lower() not in seen
    for local in local_parts():
        assert local.lower() not in seen
        assert local.lower().replace("+", "%2b") not in seen


@pytest.mark.django_db(transaction=True)
def test_each_confirmation_email_reaches_only_its_pledger(
    campaign: Campaign, pledge_data: dict[str, Any], smtp_inbox: Any, celery_worker: Any
) -> None:
    for number, email in enumerate(EMAILS):
        pledge_from(Client(), campaign, pledge_data, email, number)

    messages = smtp_inbox.wait_for(len(EMAILS))
    assert len(messages) == len(EMAILS)
    assert len(smtp_inbox.wait_for(len(EMAILS) + 1, timeout=2)) == len(EMAILS)

    by_recipient = {message["To"]: message for message in messages}
    assert sorted(by_recipient) == sorted(EMAILS)
    for number, email in enumerate(EMAILS):
        message = by_recipient[email]
        assert message.get_all("Cc") is None
        assert message.get_all("Bcc") is None
        assert message.get_all("Reply-To") is None
        assert email not in message["From"]
        whole = message.as_string() + email_text(message) + email_html(message)
        assert f"(promise {number})" in email_text(message)
        for other_number, other in enumerate(EMAILS):
            if other == email:
                continue
            assert other.split("@")[0] not in whole
            assert f"(promise {other_number})" not in whole
