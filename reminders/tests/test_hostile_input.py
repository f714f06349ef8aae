"""Hostile input on the reminder forms and links: a clear 4xx or a faithful
answer, never a 500, and nothing stored that should not be."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from reminders.models import ReminderSignup
from reminders.services import unsubscribe_token
from reminders.tests.helpers import signup

pytestmark = pytest.mark.django_db

HOSTILE_EMAILS = [
    "<script>alert(1)</script>@example.org",
    "x'; DROP TABLE reminders_remindersignup; --@example.org",
    "nul\x00byte@example.org",
    "a" * 1_000_000 + "@example.org",
    "\u202eevil@example.org",
    "",
]


@pytest.mark.parametrize("email", HOSTILE_EMAILS, ids=["script", "sql", "null", "1mb", "rtl", "empty"])
def test_hostile_addresses_on_the_remind_me_form_get_a_clear_400(campaign: Any, email: str) -> None:
    response = Client(raise_request_exception=False).post(
        f"/campaigns/{campaign.slug}/remind-me/", {"email": email}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "Enter an email address like name@example.org." in page or "Enter your email address." in page
    assert "<script>alert(1)</script>" not in page
    assert not ReminderSignup.objects.exists()


def test_an_emoji_address_is_refused_clearly_or_stored_as_given(campaign: Any) -> None:
    response = Client(raise_request_exception=False).post(
        f"/campaigns/{campaign.slug}/remind-me/", {"email": "carer🙂@example.org"}
    )
    assert response.status_code in (302, 400)
    if response.status_code == 302:
        assert ReminderSignup.objects.get().email == "carer🙂@example.org"


@pytest.mark.parametrize(
    "token",
    ["%00", "a" * 5000, "s.abc:1abc:forged", "p.%00:1x:y", "..%2F..%2Fadmin"],
    ids=["null", "huge", "forged", "null-inside", "traversal"],
)
@pytest.mark.parametrize("path", ["/reminders/unsubscribe/{}/", "/reminders/confirm/{}/"])
def test_forged_or_mangled_reminder_links_are_a_clear_4xx(campaign: Any, token: str, path: str) -> None:
    client = Client(raise_request_exception=False)
    for method in (client.get, client.post):
        response = method(path.format(token))
        assert 400 <= response.status_code < 500, (method, response.status_code)


def test_a_link_made_for_another_purpose_is_refused(campaign: Any) -> None:
    person = signup(campaign, "purpose@example.org")
    unsubscribe = unsubscribe_token(signup=person)
    # An unsubscribe token is not a confirmation, and the other way round.
    assert Client().post(f"/reminders/confirm/{unsubscribe}/").status_code == 400
    person.refresh_from_db()
    assert person.status == "confirmed"
