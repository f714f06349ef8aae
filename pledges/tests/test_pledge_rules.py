"""The rules a pledge lives by: escaping, one pledge per promise, the form's
opening hours, moderation, and confirmation links that are tampered, expired,
repeated or point nowhere."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.http import HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.html import escape

from campaigns.models import Campaign
from changeday.lib.tokens import make_token
from conftest import create_pledge
from outbox.models import OutboxEmail
from pledges import services
from pledges.models import Pledge, Sector, Status

pytestmark = pytest.mark.django_db


def submit(client: Client, campaign: Campaign, data: dict[str, Any]) -> HttpResponse:
    return client.post(f"/campaigns/{campaign.slug}/pledge/", data)


def confirm_path(pledge: Pledge) -> str:
    return urlsplit(services.pledge_confirmation_url(pledge=pledge)).path


def token_path(token: str) -> str:
    return f"/pledges/confirm/{token}/"


def make_pledge(campaign: Campaign, pledge_data: dict[str, Any], **changes: Any) -> Pledge:
    """A pledge awaiting confirmation, made through the real form."""
    response = submit(Client(), campaign, {**pledge_data, **changes})
    assert response.status_code == 302, response.content.decode()[:2000]
    return Pledge.objects.get(email=changes.get("email", pledge_data["email"]))


def token_made_at(moment: datetime, public_id: str) -> str:
    # Only the clock is wound back; the token is made by the real helper.
    with mock.patch("django.core.signing.time.time", return_value=moment.timestamp()):
        return make_token(purpose=services.CONFIRM_PURPOSE, value=public_id)


# --- What people type is shown as they typed it ----------------------------------

MARKUP = {
    "text": '<script>alert("text")</script> I will wash my hands & "listen"',
    "display_name": "<img src=x onerror=alert(1)>",
    "role": "\"><script>alert('role')</script>",
    "organisation": '</p><a href="javascript:alert(1)">St Mary\'s & Co</a>',
}


def test_markup_in_every_text_field_is_stored_as_typed_and_shown_escaped(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    browser = Client()
    pledge = make_pledge(campaign, pledge_data, **MARKUP)
    for field, typed in MARKUP.items():
        assert getattr(pledge, field) == typed

    landing = browser.get(confirm_path(pledge)).content.decode()
    confirmed = browser.post(confirm_path(pledge))
    permalink = Client().get(confirmed["Location"])
    owner_view = browser.get(confirmed["Location"]).content.decode()

    assert permalink.status_code == 200
    for body in (permalink.content.decode(), owner_view):
        for typed in MARKUP.values():
            assert typed not in body
            assert escape(typed) in body
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        assert 'href="javascript:' not in body
    assert "<script>alert" not in landing
    assert escape(MARKUP["text"]) in landing


# --- One pledge per promise ------------------------------------------------------


def test_submitting_the_same_form_twice_makes_one_pledge_and_one_email(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    browser = Client()

    first = submit(browser, campaign, pledge_data)
    second = submit(browser, campaign, pledge_data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"] == f"/campaigns/{campaign.slug}/pledge/sent/"
    assert "Check your email" in browser.get(second["Location"]).content.decode()
    assert Pledge.objects.count() == 1
    assert OutboxEmail.objects.count() == 1


def test_the_same_promise_from_the_same_address_with_a_new_form_makes_one_pledge(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    first = submit(Client(), campaign, pledge_data)
    again = {
        **pledge_data,
        "submission_token": str(uuid.uuid4()),
        "email": pledge_data["email"].upper(),
        "text": "  " + pledge_data["text"].replace(" ", "  ").capitalize() + " ",
    }
    second = submit(Client(), campaign, again)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Pledge.objects.count() == 1


def test_a_different_promise_from_the_same_address_is_a_second_pledge(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    submit(Client(), campaign, pledge_data)
    other = {
        **pledge_data,
        "submission_token": str(uuid.uuid4()),
        "text": "learn the name of every porter on my corridor",
    }

    response = submit(Client(), campaign, other)

    assert response.status_code == 302
    assert Pledge.objects.count() == 2


def test_the_fourth_pledge_with_the_same_words_is_flagged_as_a_duplicate_in_the_flags_order(
    campaign: Campaign,
) -> None:
    words = "see www.example.org and learn the name of every patient on my ward"
    pledges = [create_pledge(campaign, n, confirm=False, text=words) for n in range(1, 5)]

    assert [pledge.flags for pledge in pledges] == [["link"]] * 3 + [["link", "duplicate"]]
    stored = Pledge.objects.get(pk=pledges[3].pk)
    assert stored.flags == ["link", "duplicate"]
    assert stored.public_id == pledges[3].public_id


@pytest.mark.postgres_only("the one-statement insert is PostgreSQL's; SQLite takes the ORM path")
def test_a_new_pledge_is_stored_with_its_sectors_and_its_email_in_one_statement_after_its_address_s_lock(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    values = {**pledge_data, "sectors": ["nhs", "housing"], "consent_to_publish": True}
    values.update(is_anonymous=False, wants_reminders=False, submission_token=uuid.uuid4())
    with CaptureQueriesContext(connection) as captured:
        result = services.pledge_create(campaign=campaign, **values)

    assert result.created
    # The confirmation cap counts an address's confirmations under a lock of that
    # address, taken in a statement of its own (services._confirmations_serialise).
    statements = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    # A typed organisation is first looked up in the directory and among the suggestions (and
    # made a suggestion the first time): reads of the organisations app, before the lock.
    directory = [sql for sql in statements if '"organisations_' in sql]
    statements = [sql for sql in statements if '"organisations_' not in sql]
    assert len(directory) == 3
    assert len(statements) == 2
    assert statements[0].startswith("SELECT pg_advisory_xact_lock(")
    stored = Pledge.objects.get(pk=result.pledge.pk)
    assert sorted(stored.sectors.slugs()) == ["housing", "nhs"]
    assert OutboxEmail.objects.get(subject_id=stored.pk).kind == "confirmation"
    assert stored.created_at == result.pledge.created_at


def test_a_pledge_is_tagged_even_when_the_sector_rows_are_gone_as_after_a_flush(
    campaign: Campaign,
) -> None:
    Sector.objects.all().delete()

    pledge = create_pledge(campaign, confirm=False, sectors=["social-care", "patient-carer"])

    assert sorted(Pledge.objects.get(pk=pledge.pk).sectors.slugs()) == ["patient-carer", "social-care"]


def test_a_pledge_whose_drawn_public_id_is_taken_is_stored_under_another(
    campaign: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = create_pledge(campaign, 1, confirm=False)
    draws = [taken.public_id]
    real_draw = services.new_public_id
    # The first id drawn for the next pledge is the one already taken; later draws are real.
    monkeypatch.setattr(services, "new_public_id", lambda: draws.pop() if draws else real_draw())

    second = create_pledge(campaign, 2, confirm=False)

    assert draws == []
    assert second.public_id != taken.public_id
    assert Pledge.objects.get(pk=second.pk).email == "person2@example.org"
    assert Pledge.objects.count() == 2


def test_pledging_the_same_unconfirmed_promise_again_sends_a_new_confirmation_email(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    submit(Client(), campaign, pledge_data)

    response = submit(Client(), campaign, {**pledge_data, "submission_token": str(uuid.uuid4())})

    assert response.status_code == 302
    pledge = Pledge.objects.get()
    assert OutboxEmail.objects.filter(subject_id=pledge.pk).count() == 2


# --- The form's opening hours --------------------------------------------------


def test_the_form_is_closed_after_the_deadline_with_a_clear_message(
    make_campaign: Any, pledge_data: dict[str, Any]
) -> None:
    now = timezone.now()
    campaign = make_campaign(opens_at=now - timedelta(days=40), deadline=now - timedelta(hours=1))
    browser = Client()

    page = browser.get(f"/campaigns/{campaign.slug}/pledge/")
    posted = submit(browser, campaign, pledge_data)

    assert page.status_code == 200
    body = page.content.decode()
    assert "Pledging closed on" in body
    assert timezone.localtime(campaign.deadline).strftime("%H:%M") in body
    assert 'name="text"' not in body
    assert posted.status_code == 403
    assert "Pledging closed on" in posted.content.decode()
    assert Pledge.objects.count() == 0
    assert OutboxEmail.objects.count() == 0


def test_the_form_before_opening_says_when_it_opens(make_campaign: Any, pledge_data: dict[str, Any]) -> None:
    opens_at = (timezone.now() + timedelta(days=3)).replace(second=0, microsecond=0)
    campaign = make_campaign(opens_at=opens_at, deadline=opens_at + timedelta(days=30))
    local = timezone.localtime(opens_at)
    browser = Client()

    page = browser.get(f"/campaigns/{campaign.slug}/pledge/")
    posted = submit(browser, campaign, pledge_data)

    assert page.status_code == 200
    body = page.content.decode()
    assert f"Pledging opens on <strong>{local:%A} {local.day} {local:%B %Y at %H:%M}</strong>" in body
    assert 'name="text"' not in body
    assert posted.status_code == 403
    assert "Pledging opens on" in posted.content.decode()
    assert Pledge.objects.count() == 0


# --- Moderation and the owner's view ---------------------------------------------


def test_a_confirmed_pledge_in_a_pre_moderated_campaign_waits_and_only_its_owner_sees_it(
    pre_campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    owner = Client()
    pledge = make_pledge(pre_campaign, pledge_data)

    confirmed = owner.post(confirm_path(pledge))

    assert confirmed.status_code == 302
    pledge.refresh_from_db()
    assert pledge.status == Status.PENDING
    assert pledge.published_at is None
    assert Client().get(confirmed["Location"]).status_code == 404
    mine = owner.get(confirmed["Location"])
    assert mine.status_code == 200
    body = mine.content.decode()
    assert "An organiser will check it before it appears on the wall" in body
    assert pledge_data["text"] in body


def test_a_confirmed_pledge_in_a_post_moderated_campaign_is_published_for_everyone(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    owner = Client()
    pledge = make_pledge(campaign, pledge_data)

    confirmed = owner.post(confirm_path(pledge))

    assert "your pledge is confirmed and published" in owner.get(confirmed["Location"]).content.decode()
    other = Client().get(confirmed["Location"]).content.decode()
    assert pledge_data["text"] in other
    assert "your pledge is confirmed" not in other


def test_a_pledge_awaiting_confirmation_is_not_shown_at_its_permalink(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    browser = Client()
    submit(browser, campaign, pledge_data)
    pledge = Pledge.objects.get()

    assert browser.get(f"/pledges/{pledge.public_id}/").status_code == 404
    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 404


# --- Confirmation links ----------------------------------------------------------


def _tampered_tokens(pledge: Pledge, other: Pledge) -> list[str]:
    token = services.pledge_confirmation_url(pledge=pledge).rstrip("/").rsplit("/", 1)[1]
    value, stamp, signature = token.split(":")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    return [
        f"{value}:{stamp}:{flipped}",
        f"{other.public_id}:{stamp}:{signature}",
        f"{value}:{stamp}",
        token[:-5],
        "not-a-token",
        make_token(purpose="unsubscribe", value=pledge.public_id),
    ]


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_tampered_confirmation_link_is_refused_with_a_readable_message(
    campaign: Campaign, pledge_data: dict[str, Any], method: str
) -> None:
    pledge = make_pledge(campaign, pledge_data)
    other = make_pledge(campaign, pledge_data, email="other@example.org", submission_token=str(uuid.uuid4()))

    for token in _tampered_tokens(pledge, other):
        response = getattr(Client(), method)(token_path(token))
        assert response.status_code == 400, token
        assert "This link does not work" in response.content.decode()

    assert set(Pledge.objects.values_list("status", flat=True)) == {Status.UNCONFIRMED}


@pytest.mark.parametrize("method", ["get", "post"])
def test_an_expired_confirmation_link_answers_410_and_confirms_nothing(
    campaign: Campaign, pledge_data: dict[str, Any], method: str
) -> None:
    pledge = make_pledge(campaign, pledge_data)
    made = timezone.now() - settings.PLEDGE_CONFIRMATION_MAX_AGE - timedelta(minutes=5)
    token = token_made_at(made, pledge.public_id)

    response = getattr(Client(), method)(token_path(token))

    assert response.status_code == 410
    assert "This link has expired" in response.content.decode()
    pledge.refresh_from_db()
    assert pledge.status == Status.UNCONFIRMED


def test_a_confirmation_link_still_works_just_before_it_expires(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    pledge = make_pledge(campaign, pledge_data)
    made = timezone.now() - settings.PLEDGE_CONFIRMATION_MAX_AGE + timedelta(minutes=5)
    token = token_made_at(made, pledge.public_id)

    response = Client().post(token_path(token))

    assert response.status_code == 302
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED


def test_an_old_link_to_a_pledge_already_confirmed_leads_to_the_pledge(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    pledge = make_pledge(campaign, pledge_data)
    made = timezone.now() - settings.PLEDGE_CONFIRMATION_MAX_AGE - timedelta(days=1)
    old_token = token_made_at(made, pledge.public_id)
    Client().post(confirm_path(pledge))

    response = Client().get(token_path(old_token))

    assert response.status_code == 302
    assert response["Location"] == f"/pledges/{pledge.public_id}/"


def test_confirming_twice_is_harmless(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    pledge = make_pledge(campaign, pledge_data)
    path = confirm_path(pledge)
    browser = Client()

    first = browser.post(path)
    pledge.refresh_from_db()
    published_at = pledge.published_at
    time.sleep(0.01)
    second = browser.post(path)
    from_elsewhere = Client().post(path)
    scanner = Client().get(path)

    assert first.status_code == second.status_code == from_elsewhere.status_code == 302
    assert first["Location"] == second["Location"] == from_elsewhere["Location"]
    assert scanner.status_code == 302 and scanner["Location"] == first["Location"]
    pledge.refresh_from_db()
    assert pledge.status == Status.PUBLISHED
    assert pledge.published_at == published_at
    assert Pledge.objects.count() == 1
    assert browser.get(first["Location"]).status_code == 200


@pytest.mark.parametrize("method", ["get", "post"])
def test_a_genuine_link_for_a_pledge_that_does_not_exist_is_a_4xx(campaign: Campaign, method: str) -> None:
    token = make_token(purpose=services.CONFIRM_PURPOSE, value="nosuchpledge")

    response = getattr(Client(raise_request_exception=False), method)(token_path(token))

    assert 400 <= response.status_code < 500
    assert "This link does not work" in response.content.decode()


# --- Permalinks --------------------------------------------------------------------


@pytest.mark.parametrize(
    "public_id",
    [
        "abcdefghjkmn",
        "x" * 5000,
        "%C3%B1%C3%B1",
        "..",
        "%3Cscript%3E",
        "a%20b",
        "%FF%FE",
        "'%20OR%201=1--",
        "abc%00def",
    ],
)
def test_an_unknown_or_odd_public_id_is_a_404(campaign: Campaign, public_id: str) -> None:
    response = Client(raise_request_exception=False).get(f"/pledges/{public_id}/")

    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


def test_a_real_public_id_with_anything_added_is_a_404(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    pledge = make_pledge(campaign, pledge_data)
    Client().post(confirm_path(pledge))
    assert Client().get(f"/pledges/{pledge.public_id}/").status_code == 200

    for suffix in ("x", "xxxx", "x" * 5000):
        assert Client().get(f"/pledges/{pledge.public_id}{suffix}/").status_code == 404
    assert Client().get(f"/pledges/{pledge.public_id[:-1]}/").status_code == 404
