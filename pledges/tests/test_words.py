"""Issue 19 item 6, words that read right: a typed "I pledge to" is not stored twice, the box
counts characters, the form offers examples, and the page after pledging shows its own visitor
the address the link went to, with "change it" and "send it again" inside the caps."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client

from campaigns.models import Campaign
from outbox.models import OutboxEmail
from pledges import services
from pledges.models import EmailKind, Pledge, Status


def _post(client: Client, campaign: Campaign, data: dict[str, Any], **changes: Any) -> Any:
    return client.post(f"/campaigns/{campaign.slug}/pledge/", {**data, **changes})


def _confirm_path(pledge: Pledge) -> str:
    return urlsplit(services.pledge_confirmation_url(pledge=pledge)).path


def _confirmations(pledge: Pledge) -> int:
    return OutboxEmail.objects.filter(kind=EmailKind.CONFIRMATION, subject_id=pledge.pk).count()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "I pledge to listen to every carer on my ward",
        "i pledge to listen to every carer on my ward",
        "I PLEDGE TO... listen to every carer on my ward",
        "I pledge to… listen to every carer on my ward",
        "I pledge: to listen to every carer on my ward",
        "  I pledge - to listen to every carer on my ward",
        "I pledge to I pledge to listen to every carer on my ward",
    ],
)
def test_a_typed_i_pledge_to_is_not_stored_twice(
    campaign: Campaign, pledge_data: dict[str, Any], typed: str
) -> None:
    response = _post(Client(), campaign, pledge_data, text=typed)
    assert response.status_code == 302
    assert Pledge.objects.get().text == "listen to every carer on my ward"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "typed",
    [
        "I will pledge to listen to every carer",
        "I pledge that I will listen",
        "I pledge together with my team",
    ],
)
def test_other_openings_are_kept_as_typed(
    campaign: Campaign, pledge_data: dict[str, Any], typed: str
) -> None:
    assert _post(Client(), campaign, pledge_data, text=typed).status_code == 302
    assert Pledge.objects.get().text == typed


@pytest.mark.django_db
def test_a_pledge_that_is_only_i_pledge_to_is_refused_with_a_reason(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    response = _post(Client(), campaign, pledge_data, text="I pledge to... smile")
    assert response.status_code == 400
    assert "say what you will do" in response.content.decode()
    assert not Pledge.objects.exists()


@pytest.mark.django_db
def test_the_form_counts_characters_and_offers_examples_per_sector(campaign: Campaign) -> None:
    html = Client().get(f"/campaigns/{campaign.slug}/pledge/").content.decode()
    assert 'data-char-limit="500"' in html and 'data-char-count="text-count"' in html
    # Without the script the count line still says the limit.
    assert 'id="text-count" aria-live="polite">Up to 500 characters.' in html
    for sector in ("NHS", "Social care", "Housing", "Patient or carer"):
        assert f'<span class="fw-semibold">{sector}</span>' in html
    assert html.count("data-pledge-example=") >= 12


@pytest.mark.django_db
def test_the_sent_page_shows_its_own_visitor_the_address_and_nobody_else(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data, email="<b>sam</b>@example.org")
    # Not a valid address: refused, so nothing is shown anywhere.
    _post(mine, campaign, pledge_data)
    page = mine.get(f"/campaigns/{campaign.slug}/pledge/sent/")
    assert "sam.patel@example.org" in page.content.decode()
    assert "private" in page["Cache-Control"]
    other = Client().get(f"/campaigns/{campaign.slug}/pledge/sent/").content.decode()
    assert "sam.patel@example.org" not in other
    assert "Wrong address?" not in other


@pytest.mark.django_db
def test_changing_the_address_sends_a_new_link_and_the_old_link_stops_working(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data, email="sam.patle@example.org")
    pledge = Pledge.objects.get()
    old_link = _confirm_path(pledge)
    before = _confirmations(pledge)
    response = mine.post(
        f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": "sam.patel@example.org"}
    )
    assert response.status_code == 302
    pledge.refresh_from_db()
    assert pledge.email == "sam.patel@example.org"
    assert _confirmations(pledge) == before + 1
    assert "sam.patel@example.org" in mine.get(f"/campaigns/{campaign.slug}/pledge/sent/").content.decode()

    assert Client().post(old_link).status_code == 400
    pledge.refresh_from_db()
    assert pledge.status == Status.UNCONFIRMED
    assert Client().post(_confirm_path(pledge)).status_code == 302
    pledge.refresh_from_db()
    assert pledge.status != Status.UNCONFIRMED


@pytest.mark.django_db
def test_aiming_a_pledge_at_address_after_address_stops_at_the_cap(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data, email="troll@example.org")
    pledge = Pledge.objects.get()
    answers = [
        mine.post(f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": f"victim{n}@examp1e.org"})
        for n in range(services.MAX_CONFIRMATION_EMAILS + 3)
    ]
    assert _confirmations(pledge) <= services.MAX_CONFIRMATION_EMAILS
    assert answers[-1].status_code == 400
    assert "as many emails for this pledge as we can" in answers[-1].content.decode()


@pytest.mark.django_db
def test_send_it_again_stops_at_the_cap_per_pledge(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data)
    pledge = Pledge.objects.get()
    for _ in range(services.MAX_CONFIRMATION_EMAILS + 3):
        mine.post(f"/campaigns/{campaign.slug}/pledge/sent/again/")
    assert _confirmations(pledge) <= services.MAX_CONFIRMATION_EMAILS
    page = mine.get(f"/campaigns/{campaign.slug}/pledge/sent/")
    assert page.status_code == 200


@pytest.mark.django_db
def test_another_session_cannot_change_or_resend(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    _post(Client(), campaign, pledge_data)
    pledge = Pledge.objects.get()
    before = _confirmations(pledge)
    stranger = Client()
    changed = stranger.post(f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": "evil@example.org"})
    again = stranger.post(f"/campaigns/{campaign.slug}/pledge/sent/again/")
    assert changed.status_code == 400 and again.status_code == 400
    pledge.refresh_from_db()
    assert pledge.email == "sam.patel@example.org"
    assert _confirmations(pledge) == before


@pytest.mark.django_db
def test_typing_someone_elses_promise_and_address_does_not_let_you_change_their_pledge(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    _post(Client(), campaign, pledge_data)
    pledge = Pledge.objects.get()
    troll = Client()
    _post(troll, campaign, {**pledge_data, "submission_token": "f" * 8})
    # The same page as for a new pledge, forms and all: it tells nobody the address had pledged.
    page = troll.get(f"/campaigns/{campaign.slug}/pledge/sent/").content.decode()
    assert "Wrong address?" in page
    troll.post(f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": "troll@example.org"})
    pledge.refresh_from_db()
    assert pledge.email == "sam.patel@example.org"
    assert Pledge.objects.count() == 1


@pytest.mark.django_db
def test_a_confirmed_pledges_address_cannot_be_changed(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data)
    pledge = Pledge.objects.get()
    services.pledge_confirm(pledge=pledge)
    assert "Wrong address?" not in mine.get(f"/campaigns/{campaign.slug}/pledge/sent/").content.decode()
    response = mine.post(f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": "new@example.org"})
    assert response.status_code == 400
    pledge.refresh_from_db()
    assert pledge.email == "sam.patel@example.org"


@pytest.mark.django_db
def test_markup_typed_as_the_new_address_is_refused_and_shown_escaped(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    mine = Client()
    _post(mine, campaign, pledge_data)
    response = mine.post(
        f"/campaigns/{campaign.slug}/pledge/sent/address/", {"email": '"><script>alert(1)</script>@x.org'}
    )
    assert response.status_code == 400
    assert "<script>alert(1)" not in response.content.decode()
    assert Pledge.objects.get().email == "sam.patel@example.org"
