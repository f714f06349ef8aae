"""A pledger sees, downloads and deletes every pledge made from their address,
through a signed link sent to that address, and no page says whether an
address has pledged."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.models import Campaign
from changeday.lib.tokens import make_token
from conftest import create_pledge
from moderation import services as moderation
from moderation.models import ModerationEvent, Report
from outbox import services as outbox_services
from outbox.models import OutboxEmail
from pledges import services
from pledges.api import counters_cache_forget
from pledges.models import Pledge, Status, TaggedSector
from pledges.selectors import campaign_totals
from testsupport.mail import email_html, email_text

KNOWN = "wombat.ward3@example.org"
OTHER = "numbat.carer@example.org"


def ask_for_link(client: Client, email: str) -> Any:
    return client.post("/your-data/", {"email": email})


def data_link_from(inbox: Any, count: int = 1) -> str:
    """Send what the outbox owes (what the worker does) and read the link from the email."""
    for outbox in OutboxEmail.objects.filter(kind="data-link", sent_at__isnull=True):
        outbox_services.outbox_send(outbox_id=outbox.pk)
    message = inbox.wait_for(count)[-1]
    match = re.search(r"http://testserver(/your-data/\S+/)", email_text(message))
    assert match, email_text(message)
    assert match[1] in email_html(message)
    return match[1]


@pytest.fixture
def pledger(campaign: Campaign, pre_campaign: Campaign) -> list[Pledge]:
    """Three pledges from one address (typed in two cases) in two campaigns,
    one of them reported and one hidden by an organiser, and one pledge from
    someone else."""
    published = create_pledge(campaign, 1, email=KNOWN, sectors=["nhs", "housing"])
    second = create_pledge(campaign, 2, email=KNOWN.upper(), region="wales", sectors=["social-care"])
    pending = create_pledge(pre_campaign, 3, email=KNOWN)
    create_pledge(campaign, 4, email=OTHER)
    for reporter in ("a", "b"):
        moderation.pledge_report(pledge=published, reporter_key=reporter, network_key=reporter, reason="spam")
    moderation.pledge_moderate(
        pledge_ids=[second.pk],
        action="reject",
        actor=None,
        reason_code="other",
        reason_text="quotes a patient",
    )
    return [published, second, pending]


def test_the_answer_is_the_same_for_a_known_and_an_unknown_address(
    pledger: list[Pledge], smtp_inbox: Any
) -> None:
    known = ask_for_link(Client(), KNOWN)
    unknown = ask_for_link(Client(), "nobody.here@example.org")

    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == "/your-data/sent/"
    known_page = Client().get(known["Location"])
    unknown_page = Client().get(unknown["Location"])
    assert known_page.content == unknown_page.content
    assert b"If that address has made any pledges" in known_page.content
    # The difference is said by email, to the address itself.
    assert list(
        Pledge.objects.filter(
            pk__in=OutboxEmail.objects.filter(kind="data-link").values("subject_id")
        ).values_list("email", flat=True)
    ) == [KNOWN]


def test_the_emailed_link_lists_every_pledge_of_that_address_in_every_campaign(
    pledger: list[Pledge], smtp_inbox: Any
) -> None:
    ask_for_link(Client(), KNOWN.title())
    link = data_link_from(smtp_inbox)
    assert smtp_inbox.messages[0]["To"] == pledger[0].email

    page = Client().get(link)

    assert page.status_code == 200
    assert "no-store" in page["Cache-Control"]
    html = page.content.decode()
    for pledge in pledger:
        assert pledge.text in html
    assert "number 4" not in html  # someone else's pledge
    assert KNOWN not in html.lower()  # not even on the owner's page: it is not needed there


def test_the_download_holds_every_pledge_and_field_of_that_address(
    pledger: list[Pledge], smtp_inbox: Any
) -> None:
    ask_for_link(Client(), KNOWN)
    link = data_link_from(smtp_inbox)

    download = Client().get(link + "pledges.json")

    assert download.status_code == 200
    assert download["Content-Disposition"].startswith("attachment;")
    data = json.loads(download.content)
    by_id = {item["public_id"]: item for item in data["pledges"]}
    assert set(by_id) == {pledge.public_id for pledge in pledger}
    rejected = by_id[pledger[1].public_id]
    assert rejected["email"] == KNOWN.upper()
    assert rejected["status"] == "rejected"
    assert [d["action"] for d in rejected["decisions"]] == ["reject"]
    assert by_id[pledger[2].public_id]["campaign"]["slug"] == "pre-day"


def test_deleting_removes_the_pledges_and_everything_attached_and_the_totals_stay_exact(
    campaign: Campaign, pledger: list[Pledge], smtp_inbox: Any
) -> None:
    ask_for_link(Client(), KNOWN)
    link = data_link_from(smtp_inbox)
    before = campaign_totals(campaign=campaign)
    assert before.total == 2 and before.by_sector["housing"] == 1
    ids = [pledge.pk for pledge in pledger]
    events_before = ModerationEvent.objects.count()

    assert Client().get(link.rstrip("/") + "/delete/").status_code == 405  # a scanner's GET deletes nothing
    response = Client().post(link + "delete/")

    assert response.status_code == 200
    assert b"We deleted 3 pledges" in response.content
    assert not Pledge.objects.filter(email__iexact=KNOWN).exists()
    assert not Report.objects.filter(pledge_id__in=ids).exists()
    assert not TaggedSector.objects.filter(content_object_id__in=ids).exists()
    assert not OutboxEmail.objects.filter(subject_id__in=ids).exists()
    # The counters moved down in the same transaction: exact now, not after a recount.
    after = campaign_totals(campaign=campaign)
    assert (after.total, after.by_sector["housing"], after.by_region["london"]) == (1, 0, 1)
    assert services.campaign_recompute_totals(campaign=campaign) == {}
    counters_cache_forget(campaign.slug)  # the API's one-second cache
    assert Client().get(f"/api/v1/campaigns/{campaign.slug}/counters").json()["total"] == 1
    # The audit keeps the decision, without the pledge or the organiser's words.
    assert ModerationEvent.objects.count() == events_before
    kept = ModerationEvent.objects.get(action="reject")
    assert (kept.pledge_id, kept.reason_code, kept.reason_text) == (None, "other", "")
    assert Pledge.objects.filter(email=OTHER).count() == 1
    # The link now leads nowhere, and says so.
    assert Client().get(link).status_code == 410


def test_a_link_made_for_another_purpose_tampered_with_or_expired_is_refused(
    pledger: list[Pledge], settings: Any
) -> None:
    public_id = pledger[0].public_id
    confirm_token = make_token(purpose=services.CONFIRM_PURPOSE, value=public_id)
    withdraw_token = make_token(purpose=services.WITHDRAW_PURPOSE, value=public_id)
    genuine = make_token(purpose=services.DATA_PURPOSE, value=public_id)
    tampered = genuine.replace(public_id, pledger[2].public_id)

    for token in (confirm_token, withdraw_token, tampered, "not-a-token"):
        for response in (
            Client().get(f"/your-data/{token}/"),
            Client().get(f"/your-data/{token}/pledges.json"),
            Client().post(f"/your-data/{token}/delete/"),
        ):
            assert response.status_code == 400
            assert b"This link does not work" in response.content
    assert Pledge.objects.filter(email__iexact=KNOWN).count() == 3

    settings.PLEDGER_DATA_LINK_MAX_AGE = timedelta(0)
    expired = Client().post(f"/your-data/{genuine}/delete/")
    assert expired.status_code == 410
    assert b"This link has expired" in expired.content
    assert Pledge.objects.filter(email__iexact=KNOWN).count() == 3


def test_a_bad_address_gets_a_clear_message_and_a_flood_of_requests_is_slowed(
    pledger: list[Pledge], smtp_inbox: Any
) -> None:
    bad = ask_for_link(Client(), "not an address")
    assert bad.status_code == 400
    assert b"Enter a valid email address" in bad.content

    visitor = Client(REMOTE_ADDR="192.0.2.7")
    answers = [ask_for_link(visitor, KNOWN).status_code for _ in range(11)]
    assert answers == [302] * 10 + [429]
    # However many asked, the mailbox got at most three links this hour.
    assert OutboxEmail.objects.filter(kind="data-link").count() == 3


def test_no_public_page_shows_a_pledgers_address_after_a_request_and_a_deletion(
    campaign: Campaign, pledger: list[Pledge], smtp_inbox: Any
) -> None:
    visitor = Client()
    pages = {"request form": visitor.get("/your-data/")}
    pages["request answer"] = ask_for_link(visitor, KNOWN)
    pages["sent"] = visitor.get("/your-data/sent/")
    pages["campaign"] = visitor.get(f"/campaigns/{campaign.slug}/")
    pages["wall"] = visitor.get(f"/campaigns/{campaign.slug}/wall/")
    pages["api pledges"] = visitor.get(f"/api/v1/campaigns/{campaign.slug}/pledges")
    pages["feed"] = visitor.get(f"/campaigns/{campaign.slug}/feed/")
    pages["permalink"] = visitor.get(f"/pledges/{pledger[0].public_id}/")
    link = data_link_from(smtp_inbox)
    pages["deleted"] = Client().post(link + "delete/")
    pages["wall after"] = visitor.get(f"/campaigns/{campaign.slug}/wall/")

    for name, page in pages.items():
        body = page.content.decode().lower()
        for address in (KNOWN, OTHER):
            assert address not in body, f"{address} shown on {name}"
            assert address.split("@")[0] not in body, f"{address} shown on {name}"
    assert pages["wall after"].status_code == 200
    assert pledger[0].text not in pages["wall after"].content.decode()
    assert urlsplit(link).path.startswith("/your-data/")
    assert Pledge.objects.filter(status=Status.PUBLISHED).count() == 1
