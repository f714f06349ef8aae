"""Organisers find and inspect pledges in the admin; audit fields stay read-only."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from conftest import create_pledge
from pledges.models import Pledge
from testsupport.admin import pledge_admin_values

pytestmark = pytest.mark.django_db


def _pledge(campaign: Any, *, text: str, email: str, confirm: bool = True) -> Pledge:
    return create_pledge(
        campaign,
        confirm=confirm,
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


def test_an_organiser_finds_a_pledge_by_its_pledgers_email(campaign: Any, organiser: Any) -> None:
    wanted = _pledge(campaign, text="phone every family after a discharge", email="ana@example.org")
    _pledge(campaign, text="visit the day centre once a month", email="bo@example.org")

    page = _client_for(organiser).get("/admin/pledges/pledge/", {"q": "ana@example.org"})

    assert page.status_code == 200
    body = page.content.decode()
    assert wanted.public_id in body
    assert "visit the day centre" not in body


def test_an_organiser_filters_pledges_by_status(campaign: Any, organiser: Any) -> None:
    _pledge(campaign, text="published promise for the wall", email="a@example.org")
    waiting = _pledge(
        campaign, text="unconfirmed promise still waiting", email="b@example.org", confirm=False
    )

    page = _client_for(organiser).get("/admin/pledges/pledge/", {"status__exact": "unconfirmed"})

    body = page.content.decode()
    assert waiting.public_id in body
    assert "published promise for the wall" not in body


def test_audit_fields_are_shown_but_cannot_be_edited(campaign: Any, organiser: Any) -> None:
    pledge = _pledge(campaign, text="learn sign language basics this spring", email="c@example.org")
    client = _client_for(organiser)

    page = client.get(f"/admin/pledges/pledge/{pledge.pk}/change/")

    body = page.content.decode()
    assert page.status_code == 200
    assert pledge.public_id in body
    for field in ("public_id", "status", "published_at", "confirmed_at", "email", "submission_token"):
        assert f'name="{field}"' not in body, f"{field} is editable in the admin"

    # A forged POST cannot change a read-only field either.
    client.post(
        f"/admin/pledges/pledge/{pledge.pk}/change/",
        pledge_admin_values(pledge, display_name="Ana B.", status="rejected", public_id="forged"),
    )
    pledge.refresh_from_db()
    assert pledge.display_name == "Ana B.", "the edit itself was refused"
    assert pledge.status == "published"
    assert pledge.public_id != "forged"


def test_pledges_cannot_be_added_in_the_admin(organiser: Any) -> None:
    assert _client_for(organiser).get("/admin/pledges/pledge/add/").status_code == 403


def test_a_person_who_is_not_staff_is_sent_to_log_in(stranger: Any) -> None:
    response = _client_for(stranger).get("/admin/pledges/pledge/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_an_organiser_sees_a_pledges_words_but_cannot_rewrite_them(campaign: Any, organiser: Any) -> None:
    pledge = _pledge(campaign, text="learn sign language basics this spring", email="d@example.org")
    client = _client_for(organiser)

    page = client.get(f"/admin/pledges/pledge/{pledge.pk}/change/").content.decode()
    assert "learn sign language basics this spring" in page
    assert 'name="text"' not in page

    response = client.post(
        f"/admin/pledges/pledge/{pledge.pk}/change/",
        pledge_admin_values(
            pledge,
            text="I pledge to I pledge to sell my colleagues' details",
            organisation="Kent County Council",
        ),
    )
    assert response.status_code == 302
    pledge.refresh_from_db()
    assert pledge.text == "learn sign language basics this spring"
    assert Client().get(f"/pledges/{pledge.public_id}/").content.decode().count("sell my colleagues") == 0
