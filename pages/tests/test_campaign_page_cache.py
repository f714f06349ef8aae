"""The campaign page, where most peak traffic lands, is one page shared by every
visitor for a second; anyone with a session still gets their own."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from conftest import create_pledge
from reminders.models import ReminderSignup

pytestmark = pytest.mark.django_db


def test_a_reload_within_the_second_is_served_from_the_shared_page_without_a_query(campaign: Any) -> None:
    create_pledge(campaign, 1)
    url = f"/campaigns/{campaign.slug}/"
    first = Client().get(url)
    assert first.status_code == 200
    assert "csrfmiddlewaretoken" not in first.content.decode(), (
        "a shared page must carry no per-visitor token"
    )
    assert not first.cookies

    with CaptureQueriesContext(connection) as queries:
        again = Client().get(url)
    assert len(queries) == 0
    assert again.content == first.content
    assert again["Cache-Control"] == "public, max-age=1, stale-while-revalidate=5"
    assert "Cookie" in again["Vary"]


def test_the_shared_pages_remind_me_form_works_without_a_csrf_cookie(campaign: Any) -> None:
    response = Client(enforce_csrf_checks=True).post(
        f"/campaigns/{campaign.slug}/remind-me/", {"email": "from-the-shared-page@example.org"}
    )
    assert response.status_code == 302
    assert ReminderSignup.objects.filter(email="from-the-shared-page@example.org").exists()


def test_a_visitor_with_a_session_gets_their_own_page_with_their_message(campaign: Any) -> None:
    pledge = create_pledge(campaign, 1)
    Client().get(f"/campaigns/{campaign.slug}/")  # the shared page now exists
    visitor = Client()
    for n in range(campaign.report_threshold):
        reporter = visitor if n == 0 else Client()
        reporter.post(f"/pledges/{pledge.public_id}/report/", {"reason": "spam"})
    # The last report hid the pledge and sent that reporter to the campaign page.
    last = reporter.get(f"/campaigns/{campaign.slug}/")
    assert "An organiser will look at this pledge" in last.content.decode()
    assert (
        "An organiser will look at this pledge"
        not in Client().get(f"/campaigns/{campaign.slug}/").content.decode()
    )
