"""Property-based tests (hypothesis): whatever a person or a script sends to the
pledge form or the API's query parameters, the answer is a page or a clear
refusal, never a 5xx, and a pledge that was taken reads back exactly as written.

The example counts and deadline come from the hypothesis profile in conftest.py.
pytest-django wraps a whole test function in one transaction, not each example:
every example here runs in its own savepoint and rolls it back, so no example
sees another's pledges (a second identical promise would be a duplicate)."""

from __future__ import annotations

import json
import uuid
from base64 import urlsafe_b64encode
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.db import transaction
from django.test import Client
from django.utils.html import escape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from changeday.lib.tokens import make_token
from conftest import create_pledge
from pledges.models import Kind, Pledge, Region, SectorSlug, Status
from pledges.services import CONFIRM_PURPOSE

pytestmark = pytest.mark.django_db

SLUG = "change-day-2027"
# One fixture value shared by every example is what these tests want: the
# campaign is only read, and each example's writes are rolled back.
SHARED_FIXTURES = settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@contextmanager
def rolled_back() -> Iterator[None]:
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


# Any text a browser can send: every code point but surrogates (which UTF-8
# cannot carry), including null characters, right-to-left overrides and emoji.
any_text = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=600)


def _filled(min_size: int, max_size: int) -> st.SearchStrategy[str]:
    return st.text(min_size=min_size, max_size=max_size).filter(
        lambda t: len(t.strip()) >= min_size and "\x00" not in t
    )


# A form the pledge page could have sent, with any characters in its free text...
valid_forms = st.fixed_dictionaries(
    {
        "text": _filled(10, 500),
        "display_name": _filled(1, 100),
        "is_anonymous": st.booleans(),
        "role": _filled(1, 100),
        "organisation": st.text(max_size=200).filter(lambda t: "\x00" not in t),
        "region": st.sampled_from(Region.values),
        "kind": st.sampled_from(Kind.values),
        "sectors": st.lists(st.sampled_from(SectorSlug.values), min_size=1, max_size=4, unique=True),
        "submission_token": st.one_of(st.uuids().map(str), st.text(max_size=40)),
    }
)
# ...and, in a share of examples, one field replaced by anything at all.
FIELDS = ["text", "display_name", "role", "organisation", "region", "kind", "sectors", "submission_token"]
junk = st.tuples(st.integers(0, 2), st.sampled_from(FIELDS), any_text)


def normalised(value: str) -> str:
    """What the form keeps of a typed value: trimmed, line breaks as one character."""
    return value.strip().replace("\r\n", "\n")


# The form has the most to get wrong: more examples than the profile's default.
@pytest.fixture
def pledging_unlimited() -> Iterator[None]:
    from django.conf import settings as django_settings
    from django.test import override_settings

    # A hundred examples come from one test client's address, some with the same email
    # address: the pledge limits (tested in test_pledge_limits.py) would answer the later ones.
    limits = {**django_settings.RATE_LIMITS, "pledge": (100_000, 600), "pledge-email": (100_000, 600)}
    with override_settings(RATE_LIMITS=limits):
        yield


@settings(SHARED_FIXTURES, max_examples=max(100, settings.default.max_examples))
@given(form=valid_forms, junk=junk)
def test_any_pledge_form_input_is_taken_or_refused_and_a_taken_pledge_reads_back_exactly(
    campaign: Any, pledging_unlimited: None, form: dict[str, Any], junk: tuple[int, str, str]
) -> None:
    spoil, field, value = junk
    if spoil == 0:
        form = {**form, field: value}
    text, display_name, role = form["text"], form["display_name"], form["role"]
    organisation, region, kind, sectors = form["organisation"], form["region"], form["kind"], form["sectors"]
    is_anonymous = form["is_anonymous"]
    if isinstance(sectors, str):
        sectors = [sectors]
    email = f"p{uuid.uuid4().hex}@example.org"
    data = {
        "text": text,
        "display_name": display_name,
        "role": role,
        "organisation": organisation,
        "region": region,
        "kind": kind,
        "sectors": sectors,
        "email": email,
        "consent_to_publish": "on",
        "submission_token": form["submission_token"],
    }
    if is_anonymous:
        data["is_anonymous"] = "on"
    client = Client(raise_request_exception=False)
    with rolled_back():
        response = client.post(f"/campaigns/{SLUG}/pledge/", data)
        assert response.status_code in (302, 400), response.status_code
        event(f"status {response.status_code}")
        if response.status_code == 400:
            # A refusal says what to fix, next to the field or at the top.
            assert b"invalid-feedback" in response.content or b"alert-danger" in response.content
            assert not Pledge.objects.filter(email=email).exists()
            return

        pledge = Pledge.objects.get(email=email)
        assert pledge.text == normalised(text)
        assert pledge.display_name == ("" if is_anonymous else normalised(display_name))
        assert pledge.role == normalised(role)
        assert pledge.organisation == normalised(organisation)
        assert (pledge.region, pledge.kind) == (region, kind)
        assert set(pledge.sector_slugs) == set(sectors)

        token = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
        assert client.post(f"/pledges/confirm/{token}/").status_code == 302
        page = client.get(f"/pledges/{pledge.public_id}/")
        assert page.status_code == 200
        assert escape(pledge.text) in page.content.decode()
        pledge.refresh_from_db()
        if pledge.status == Status.PUBLISHED:
            api = json.loads(client.get(f"/api/v1/campaigns/{SLUG}/pledges").content)
            [item] = [item for item in api["results"] if item["public_id"] == pledge.public_id]
            assert item["text"] == pledge.text
            assert item["organisation"] == pledge.organisation


API_FILTERS = ["sector", "integration", "region", "kind", "organisation", "q", "cursor", "limit"]
query_value = st.one_of(
    any_text.map(lambda t: t[:300]),
    st.integers().map(str),
    st.sampled_from(["", "nhs", "london", "personal", "1", "100", "101", "0", "-1"]),
)
queries = st.dictionaries(st.sampled_from(API_FILTERS + ["page", "x"]), query_value, max_size=6)


@pytest.fixture
def some_pledges(campaign: Any) -> Any:
    for n, sectors in enumerate((["nhs"], ["housing", "social-care"], ["patient-carer"]), start=1):
        create_pledge(campaign, n, sectors=sectors, organisation="Kirklees Council")
    return campaign


@SHARED_FIXTURES
@given(query=queries)
def test_any_api_query_is_a_page_or_a_400_with_a_message(some_pledges: Any, query: dict[str, str]) -> None:
    response = Client(raise_request_exception=False).get(f"/api/v1/campaigns/{SLUG}/pledges", query)
    assert response.status_code in (200, 400), response.content[:300]
    body = json.loads(response.content)
    if response.status_code == 400:
        assert isinstance(body["detail"], str) and len(body["detail"]) > 10
    else:
        assert len(body["results"]) <= 100
        assert all(item["text"] for item in body["results"])


@SHARED_FIXTURES
@given(query=queries)
def test_any_wall_query_is_a_page_or_a_400_that_says_what_is_wrong(
    some_pledges: Any, query: dict[str, str]
) -> None:
    response = Client(raise_request_exception=False).get(f"/campaigns/{SLUG}/wall/", query)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert b'class="alert alert-danger"' in response.content


@SHARED_FIXTURES
@given(
    cursor=st.one_of(
        any_text,
        st.binary(max_size=60).map(lambda raw: urlsafe_b64encode(raw).decode()),
        # Well-formed cursors with any time and any id, as a forger would make them.
        st.tuples(st.integers(), any_text.map(lambda t: t[:20])).map(
            lambda pair: urlsafe_b64encode(f"{pair[0]}:{pair[1]}".encode()).decode()
        ),
    )
)
def test_any_cursor_is_a_page_or_asks_to_start_again(some_pledges: Any, cursor: str) -> None:
    response = Client(raise_request_exception=False).get(
        f"/api/v1/campaigns/{SLUG}/pledges", {"cursor": cursor, "limit": "1"}
    )
    assert response.status_code in (200, 400)
    detail = json.loads(response.content).get("detail", "")
    if response.status_code == 400:
        assert "start again from the first page" in detail or detail.startswith("Check cursor")


@SHARED_FIXTURES
@given(
    query=st.dictionaries(st.sampled_from(["campaign", "status", "sector", "flag"]), query_value, max_size=4)
)
def test_any_moderation_queue_filter_is_a_queue_or_a_400_with_a_message(
    some_pledges: Any, organiser: Any, query: dict[str, str]
) -> None:
    client = Client(raise_request_exception=False)
    client.force_login(organiser)
    response = client.get("/moderation/", query)
    assert response.status_code in (200, 400)
    if response.status_code == 400:
        assert b"from the list" in response.content
