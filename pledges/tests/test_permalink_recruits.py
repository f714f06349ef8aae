"""A shared pledge's page recruits the next pledger: a call to pledge, the live total,
more pledges from the same sector, a title naming whose pledge it is; its pledger is
offered sharing where a visitor is offered reporting; every share link carries the
permalink and the campaign's hashtag."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from conftest import create_pledge
from pledges.services import pledge_confirmation_url
from pledges.sharing import pledge_by

pytestmark = pytest.mark.django_db


def _permalink(pledge: Any) -> str:
    return f"http://testserver/pledges/{pledge.public_id}/"


def _title(body: str) -> str:
    return html.unescape(body.split("<title>", 1)[1].split("</title>", 1)[0])


def _share_links(body: str) -> dict[str, str]:
    links = {}
    for chunk in body.split('data-share-link="')[1:]:
        network = chunk.split('"', 1)[0]
        href = chunk.split('href="', 1)[1].split('"', 1)[0]
        links[network] = html.unescape(href)
    return links


def _decoded(href: str) -> str:
    """Everything a share link carries, decoded as the network reads it."""
    parts = urlsplit(href)
    values = [value for values in parse_qs(parts.query).values() for value in values]
    return " ".join(values) if parts.scheme != "mailto" else unquote(parts.query)


def test_a_visitor_sees_a_call_to_pledge_the_total_and_more_pledges_from_the_same_sector(
    client: Client, campaign: Any
) -> None:
    older = create_pledge(campaign, 1, text="learn the names of every porter on my corridor", sectors=["nhs"])
    create_pledge(campaign, 2, text="visit the housing team once a month", sectors=["housing"])
    create_pledge(campaign, 3, text="ask one carer a week what would help", sectors=["nhs"], confirm=False)
    shared = create_pledge(campaign, 4, text="answer every call bell within a minute", sectors=["nhs"])

    response = client.get(f"/pledges/{shared.public_id}/")

    assert response.status_code == 200
    body = response.content.decode()
    assert f'href="/campaigns/{campaign.slug}/pledge/"' in body
    assert "Make your own pledge" in body
    assert 'data-counter="total">3<' in body
    assert f'data-live-counters="/api/v1/campaigns/{campaign.slug}/counters"' in body
    more = body.split('id="more-heading"', 1)[1].split("</section>", 1)[0]
    assert "More NHS pledges" in body
    assert older.text in more
    assert "visit the housing team" not in more  # another sector
    assert "ask one carer a week" not in more  # never confirmed, never public
    assert shared.text not in more  # not the one being read
    # A visitor may report the pledge.
    assert "Report this pledge" in body
    for n in (1, 2, 3, 4):
        assert f"person{n}@example.org" not in body


def test_the_title_names_the_pledger_or_their_role_when_anonymous(client: Client, campaign: Any) -> None:
    named = create_pledge(campaign, 1, display_name="Sam Patel", role="Staff nurse")
    anonymous = create_pledge(campaign, 2, display_name="Sam Patel", is_anonymous=True, role="Staff Nurse")

    assert _title(client.get(f"/pledges/{named.public_id}/").content.decode()) == (
        "Sam Patel's pledge \N{EM DASH} Change Day 2027"
    )
    anonymous_body = client.get(f"/pledges/{anonymous.public_id}/").content.decode()
    assert _title(anonymous_body) == "A staff nurse's pledge \N{EM DASH} Change Day 2027"
    card = anonymous_body.split("<article", 1)[1].split("</article>", 1)[0]
    assert "Sam Patel" not in card
    assert "Share" in anonymous_body and "Sam Patel" not in _share_links(anonymous_body)["whatsapp"]


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("Nurse", "A nurse's pledge"),
        ("Staff Nurse", "A staff nurse's pledge"),
        ("occupational therapist", "An occupational therapist's pledge"),
        ("NHS manager", "An NHS manager's pledge"),
        ("GP", "A GP's pledge"),
        ("Nurse-in-Charge", "A nurse-in-charge's pledge"),
        ("McMillan nurse", "A McMillan nurse's pledge"),
        ("a care worker", "A care worker's pledge"),
        ("Unit manager", "A unit manager's pledge"),
        ("", "A pledge"),
        ("  -  ", "A pledge"),
        ("The", "A pledge"),
    ],
)
def test_an_anonymous_pledge_is_named_by_its_role_as_a_person_would_say_it(role: str, expected: str) -> None:
    assert pledge_by(display_name="", is_anonymous=True, role=role) == expected


def test_markup_in_a_name_or_role_is_shown_as_typed_never_as_markup(client: Client, campaign: Any) -> None:
    pledge = create_pledge(campaign, 1, display_name='<script>alert("x")</script>', role="<b>Nurse</b>")
    anonymous = create_pledge(campaign, 2, is_anonymous=True, role='"><img src=x onerror=alert(1)>')

    for shown in (pledge, anonymous):
        body = client.get(f"/pledges/{shown.public_id}/").content.decode()
        assert "<script>alert" not in body
        assert "<img src=x" not in body
        assert "<b>Nurse" not in body
    assert _title(client.get(f"/pledges/{pledge.public_id}/").content.decode()).startswith(
        '<script>alert("x")</script>\'s pledge'
    )


def test_each_share_link_carries_the_permalink_and_the_hashtag_properly_encoded(
    client: Client, campaign: Any
) -> None:
    pledge = create_pledge(campaign, 1, text="bring soup & bread to the night shift? yes #1")

    links = _share_links(client.get(f"/pledges/{pledge.public_id}/").content.decode())

    assert set(links) == {"whatsapp", "email", "facebook", "linkedin", "x"}
    assert links["whatsapp"].startswith("https://wa.me/?text=")
    assert links["email"].startswith("mailto:?subject=")
    assert links["facebook"].startswith("https://www.facebook.com/sharer/sharer.php?u=")
    assert links["linkedin"].startswith("https://www.linkedin.com/shareArticle?")
    assert links["x"].startswith("https://x.com/intent/tweet?")
    for network, href in links.items():
        carried = _decoded(href)
        assert _permalink(pledge) in carried, network
        assert "ChangeDay" in carried, network
        # The "&" and "?" the pledger typed are the words' own, not new parameters.
        assert " " not in href and "soup & bread" not in href, network
    assert "soup & bread to the night shift? yes #1" in _decoded(links["whatsapp"])
    assert parse_qs(urlsplit(links["x"]).query)["hashtags"] == ["ChangeDay"]
    assert parse_qs(urlsplit(links["facebook"]).query)["u"] == [_permalink(pledge)]
    # The phone's share sheet gets the same link, its button shown only where supported.
    body = client.get(f"/pledges/{pledge.public_id}/").content.decode()
    assert f'data-share-url="{_permalink(pledge)}"' in body
    assert (
        "data-share-button" in body
        and " hidden>" in body.split("data-share-button", 1)[1].split("</button>")[0]
    )


def test_the_pledgers_own_view_offers_sharing_and_no_reporting(client: Client, campaign: Any) -> None:
    pledge = create_pledge(campaign, 1, confirm=False)
    client.post(pledge_confirmation_url(pledge=pledge))

    body = client.get(f"/pledges/{pledge.public_id}/").content.decode()

    assert "Thank you: your pledge is confirmed and published." in body
    assert "Share your pledge" in body
    assert set(_share_links(body)) == {"whatsapp", "email", "facebook", "linkedin", "x"}
    assert "I pledged for Change Day 2027" in _decoded(_share_links(body)["whatsapp"])
    assert "Report this pledge" not in body
    # A stranger in another browser reads the same pledge with the report link.
    assert "Report this pledge" in Client().get(f"/pledges/{pledge.public_id}/").content.decode()


def test_a_pledge_waiting_for_moderation_offers_its_pledger_no_share_links(
    client: Client, pre_campaign: Any
) -> None:
    pledge = create_pledge(pre_campaign, 1, confirm=False)
    client.post(pledge_confirmation_url(pledge=pledge))

    body = client.get(f"/pledges/{pledge.public_id}/").content.decode()

    assert "An organiser will check it" in body
    # A link that answers "not found" to everyone else is not worth sharing yet.
    assert _share_links(body) == {}
    assert "Make your own pledge" in body  # ... but a colleague may pledge now


def test_after_the_deadline_the_page_does_not_invite_a_pledge_the_form_would_refuse(
    client: Client, make_campaign: Any
) -> None:
    now = timezone.now()
    campaign = make_campaign(opens_at=now - timedelta(days=10), deadline=now + timedelta(minutes=1))
    pledge = create_pledge(campaign, 1)
    campaign.deadline = now - timedelta(minutes=1)
    campaign.save(update_fields=["deadline"])

    body = client.get(f"/pledges/{pledge.public_id}/").content.decode()

    assert "Make your own pledge" not in body
    assert 'data-counter="total">1<' in body


def test_the_campaign_page_shares_itself_with_the_hashtag(client: Client, campaign: Any) -> None:
    links = _share_links(client.get(f"/campaigns/{campaign.slug}/").content.decode())

    assert set(links) == {"whatsapp", "email", "facebook", "linkedin", "x"}
    for network, href in links.items():
        carried = _decoded(href)
        assert f"http://testserver/campaigns/{campaign.slug}/" in carried, network
        assert "ChangeDay" in carried, network


def test_a_withdrawn_pledge_leaves_the_more_pledges_of_other_permalinks_at_once(
    client: Client, campaign: Any
) -> None:
    from pledges.services import pledge_withdraw

    leaving = create_pledge(campaign, 1, text="take back this promise about the night shift")
    reading = create_pledge(campaign, 2)
    assert leaving.text in client.get(f"/pledges/{reading.public_id}/").content.decode()

    pledge_withdraw(pledge=leaving)

    body = client.get(f"/pledges/{reading.public_id}/").content.decode()
    # The total beside it may lag by the counters' 2 seconds; the list does not.
    assert leaving.text not in body
