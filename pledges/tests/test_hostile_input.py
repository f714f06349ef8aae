"""Hostile input on every form, filter and API parameter: each gets a clear 4xx
with a message a person understands, or is stored and shown exactly as given
(HTML-escaped); never a 500."""

from __future__ import annotations

import html
import json
from datetime import timedelta
from typing import Any

import pytest
from django.core import signing
from django.test import Client

from changeday.lib.tokens import make_token
from conftest import create_pledge
from pledges.models import Pledge, Status
from pledges.services import CONFIRM_PURPOSE, WITHDRAW_PURPOSE

pytestmark = pytest.mark.django_db

SLUG = "change-day-2027"
NULL = "listen first\x00then act"
HOSTILE = {
    "script": "<script>alert('pledge')</script>",
    "html": '"><img src=x onerror=alert(1)>',
    "sql": "'; DROP TABLE pledges_pledge; --",
    "sql_or": "1' OR '1'='1",
    "null": NULL,
    "rtl": "\u202etxt.exe\u202c pledge",
    "emoji": "🏥💙👩‍⚕️ care",
    "format": "%s%n{0}{{ request }}",
    "megabyte": "x" * 1_000_000,
    "negative": "-1",
    "huge_number": "9" * 400,
    "not_a_number": "NaN",
    "whitespace": " \t\r\n ",
}
# Texts a person may legitimately type: each must come back exactly as given.
FAITHFUL = {
    "script": "<script>alert('pledge')</script> and then listen",
    "html": '"><img src=x onerror=alert(1)> then listen & learn',
    "sql": "'; DROP TABLE pledges_pledge; -- and listen",
    "rtl": "\u202etxt.exe\u202c listen to every carer",
    "emoji": "🏥💙👩‍⚕️ listen to every carer on my ward",
    "template": "{{ request }} {% csrf_token %} listen to carers",
    "arabic": "أن أستمع إلى كل مريض قبل نهاية كل نوبة",
}


def hostile_client() -> Client:
    # A 500 shows up as a status code, not as an exception the test re-raises.
    return Client(raise_request_exception=False)


def assert_refused_with_message(response: Any, *, status: int = 400) -> str:
    """A 4xx whose page says something a person can act on; returns the page text."""
    assert response.status_code == status, response.content[:500]
    body = response.content.decode()
    assert "Traceback" not in body
    assert len(body.strip()) > 10
    return body


def assert_not_a_server_error(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]


@pytest.fixture
def published(campaign: Any) -> Pledge:
    return create_pledge(campaign, 1)


@pytest.fixture
def organiser_client(organiser: Any) -> Client:
    client = hostile_client()
    client.force_login(organiser)
    return client


# --- The pledge form -----------------------------------------------------------------------


FORM_FIELDS = ["text", "display_name", "role", "organisation", "region", "kind", "sectors", "email"]


# (field, payload) pairs a person may legitimately send, stored as given; every
# other pair is refused with a form error.
ACCEPTED_FORM_VALUES = {
    ("text", "sql"),
    ("text", "huge_number"),
    ("role", "sql"),
    ("display_name", "sql"),
    ("organisation", "sql"),
    ("organisation", "whitespace"),
}


@pytest.mark.parametrize("field", FORM_FIELDS)
@pytest.mark.parametrize("payload", ["null", "megabyte", "sql", "huge_number", "whitespace"])
def test_hostile_values_in_any_pledge_field_get_a_form_error_not_a_500(
    campaign: Any, pledge_data: dict[str, Any], field: str, payload: str
) -> None:
    data = {**pledge_data, field: HOSTILE[payload]}
    response = hostile_client().post(f"/campaigns/{SLUG}/pledge/", data)
    if (field, payload) in ACCEPTED_FORM_VALUES:
        assert response.status_code == 302
        stored = Pledge.objects.values_list(field, flat=True).get()
        assert stored == HOSTILE[payload].strip()
        return
    body = assert_refused_with_message(response)
    assert "invalid-feedback" in body or "alert" in body
    assert Pledge.objects.count() == 0


def test_a_null_character_in_the_pledge_is_refused_with_a_message(
    campaign: Any, pledge_data: dict[str, Any]
) -> None:
    response = hostile_client().post(f"/campaigns/{SLUG}/pledge/", {**pledge_data, "text": NULL})
    body = assert_refused_with_message(response)
    assert "Null characters are not allowed" in body
    assert Pledge.objects.count() == 0


def test_a_megabyte_pledge_is_refused_as_too_long(campaign: Any, pledge_data: dict[str, Any]) -> None:
    response = hostile_client().post(f"/campaigns/{SLUG}/pledge/", {**pledge_data, "text": "x" * 1_000_000})
    body = assert_refused_with_message(response)
    assert "Your pledge can be at most 500 characters (it has 1000000)" in body


@pytest.mark.parametrize("name", FAITHFUL)
def test_script_html_rtl_and_emoji_pledges_are_stored_and_shown_exactly_escaped(
    campaign: Any, pledge_data: dict[str, Any], name: str
) -> None:
    text = FAITHFUL[name]
    data = {**pledge_data, "text": text, "display_name": text[:100], "organisation": text[:200]}
    client = hostile_client()
    response = client.post(f"/campaigns/{SLUG}/pledge/", data)
    assert response.status_code == 302
    pledge = Pledge.objects.get(email=pledge_data["email"])
    assert (pledge.text, pledge.display_name, pledge.organisation) == (text, text[:100], text[:200])

    # Shown only once confirmed; screening may hold a script-like text for moderation.
    token = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
    client.post(f"/pledges/confirm/{token}/")
    page = client.get(f"/pledges/{pledge.public_id}/").content.decode()
    assert html.escape(text, quote=True) in page.replace("&#x27;", "&#39;") or html.escape(text) in page
    assert "<script>alert(" not in page
    assert "<img src=x" not in page


def test_a_pledge_body_of_invalid_utf8_is_answered_with_a_form_error(campaign: Any) -> None:
    body = b"text=\xff\xfe\xfdlisten&role=\xc3\x28nurse&region=london&sectors=nhs&consent_to_publish=on"
    response = hostile_client().post(
        f"/campaigns/{SLUG}/pledge/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_refused_with_message(response)
    assert Pledge.objects.count() == 0


def test_a_pledge_body_over_the_upload_limit_is_a_400(campaign: Any, pledge_data: dict[str, Any]) -> None:
    response = hostile_client().post(f"/campaigns/{SLUG}/pledge/", {**pledge_data, "text": "x" * 3_000_000})
    body = assert_refused_with_message(response)
    assert "was not right" in body


def test_a_thousand_and_one_fields_is_a_400(campaign: Any) -> None:
    body = "&".join(f"f{n}=1" for n in range(1100))
    response = hostile_client().post(
        f"/campaigns/{SLUG}/pledge/", body, content_type="application/x-www-form-urlencoded"
    )
    assert_refused_with_message(response)


# --- The report form --------------------------------------------------------------------------


@pytest.mark.parametrize("payload", ["null", "megabyte", "script", "not_a_number", "emoji"])
@pytest.mark.parametrize("field", ["reason", "detail"])
def test_hostile_reports_get_a_400_with_a_message_or_are_taken(
    published: Pledge, field: str, payload: str
) -> None:
    data = {"reason": "offensive", "detail": "", field: HOSTILE[payload]}
    response = hostile_client().post(f"/pledges/{published.public_id}/report/", data)
    if field == "detail" and payload in ("script", "emoji", "not_a_number"):
        assert response.status_code == 302
        assert published.reports.get().detail == HOSTILE[payload]
        return
    body = assert_refused_with_message(response)
    assert "Choose a reason from the list" in body or "500 characters" in body or "Null" in body
    assert not published.reports.exists()


# --- Signed links: confirm and withdraw ----------------------------------------------------------


def _forged_tokens(public_id: str) -> dict[str, str]:
    genuine = make_token(purpose=CONFIRM_PURPOSE, value=public_id)
    return {
        "truncated": genuine[:-3],
        "unsigned": public_id,
        # Another pledge's id under this pledge's signature.
        "tampered": ("3" if genuine[0] != "3" else "4") + genuine[1:],
        "other_key": signing.TimestampSigner(key="not-the-key", salt=f"changeday.{CONFIRM_PURPOSE}").sign(
            public_id
        ),
        "null": genuine + "\x00",
        "percent_null": genuine + "%00",
        "script": "<img src=x onerror=alert(1)>",
        "huge": "a:" * 20_000,
        "emoji": "🏥💙",
    }


@pytest.mark.parametrize("kind", list(_forged_tokens("x")))
@pytest.mark.parametrize("link", ["confirm", "withdraw"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_forged_or_truncated_link_is_a_400_that_says_the_link_is_broken(
    published: Pledge, kind: str, link: str, method: str
) -> None:
    token = _forged_tokens(published.public_id)[kind]
    response = getattr(hostile_client(), method)(f"/pledges/{link}/{token}/")
    assert_refused_with_message(response)
    assert b"link" in response.content
    published.refresh_from_db()
    assert published.status == Status.PUBLISHED


@pytest.mark.parametrize(("made_for", "used_at"), [("withdraw", "confirm"), ("confirm", "withdraw")])
def test_a_link_made_for_one_purpose_does_nothing_at_another(
    campaign: Any, made_for: str, used_at: str
) -> None:
    pledge = create_pledge(campaign, 1, confirm=False)
    purpose = {"confirm": CONFIRM_PURPOSE, "withdraw": WITHDRAW_PURPOSE}[made_for]
    token = make_token(purpose=purpose, value=pledge.public_id)
    response = hostile_client().post(f"/pledges/{used_at}/{token}/")
    assert_refused_with_message(response)
    pledge.refresh_from_db()
    assert pledge.status == Status.UNCONFIRMED


def test_an_expired_confirmation_link_is_gone_with_a_message(campaign: Any, settings: Any) -> None:
    pledge = create_pledge(campaign, 1, confirm=False)
    token = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
    settings.PLEDGE_CONFIRMATION_MAX_AGE = timedelta(seconds=-1)
    response = hostile_client().post(f"/pledges/confirm/{token}/")
    assert_refused_with_message(response, status=410)
    pledge.refresh_from_db()
    assert pledge.status == Status.UNCONFIRMED


@pytest.mark.parametrize("value", ["\x00", "<script>", "a" * 5000, "'; --"])
def test_a_genuinely_signed_link_to_a_nonsense_id_is_a_404(campaign: Any, value: str) -> None:
    for purpose, link in ((CONFIRM_PURPOSE, "confirm"), (WITHDRAW_PURPOSE, "withdraw")):
        token = make_token(purpose=purpose, value=value)
        response = hostile_client().post(f"/pledges/{link}/{token}/")
        assert response.status_code in (400, 404)
        assert b"link" in response.content


# --- The wall, feeds, widget and stats ---------------------------------------------------------------

WALL_PARAMS = ["sector", "region", "kind", "organisation", "q", "integration", "cursor"]


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_hostile_wall_filters_are_a_400_with_a_message_or_an_empty_wall(
    published: Pledge, payload: str
) -> None:
    for param in WALL_PARAMS:
        response = hostile_client().get(f"/campaigns/{SLUG}/wall/", {param: HOSTILE[payload]})
        assert response.status_code in (200, 400), param
        if response.status_code == 400:
            assert b'class="alert alert-danger"' in response.content


@pytest.mark.parametrize(
    "cursor",
    [
        "bm90IGEgY3Vyc29y",  # "not a cursor"
        "OTk5OTk5OTk5OTk5OTk5OTk5OTk5OmFiYw",  # a timestamp past year 9999
        "LTk5OTk5OTk5OTk5OTk5OTk5OmFiYw",  # one before year 1
        "MTcwMDAwMDAwMDAwMDAwMDrwn4+l",  # a non-alphanumeric public id
        "MTcwMDAwMDAwMDAwMDAwMDo",  # no public id
        "%%%",
        "\x00",
        "a" * 100_000,
    ],
)
def test_a_forged_or_truncated_wall_cursor_asks_to_start_again(published: Pledge, cursor: str) -> None:
    for path in (f"/campaigns/{SLUG}/wall/", f"/api/v1/campaigns/{SLUG}/pledges"):
        response = hostile_client().get(path, {"cursor": cursor})
        assert_refused_with_message(response)
        assert b"start again from the first page" in response.content


def test_a_query_string_of_invalid_utf8_is_read_without_a_500(published: Pledge) -> None:
    for path in (
        f"/campaigns/{SLUG}/wall/",
        f"/api/v1/campaigns/{SLUG}/pledges",
        f"/campaigns/{SLUG}/widget/",
        f"/campaigns/{SLUG}/feed/",
        f"/campaigns/{SLUG}/stats/",
    ):
        response = hostile_client().get(path, QUERY_STRING="q=\xff\xfe&sector=\xc3\x28&cursor=\xff")
        assert response.status_code in (200, 400), (path, response.status_code)


@pytest.mark.parametrize(
    "path",
    [
        "/campaigns/%00/",
        "/campaigns/%FF%FE/",
        "/campaigns/%3Cscript%3E/wall/",
        "/campaigns/x'%20OR%201=1/feed/",
        f"/campaigns/{SLUG}/feed/%00/",
        f"/campaigns/{SLUG}/feed/not-a-sector/",
        f"/campaigns/{'a' * 5000}/stats/",
        f"/campaigns/{'a' * 5000}/widget/",
        "/pledges/%00/",
        "/pledges/%F0%9F%8F%A5/",
        f"/pledges/{'a' * 5000}/",
        "/api/v1/campaigns/%00/counters",
        "/api/v1/campaigns/%FF/pledges",
        f"/api/v1/campaigns/{'a' * 5000}/pledges",
    ],
)
def test_hostile_addresses_are_a_404(published: Pledge, path: str) -> None:
    response = hostile_client().get(path)
    assert response.status_code == 404


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_the_widget_refuses_an_unknown_sector_with_a_message(published: Pledge, payload: str) -> None:
    response = hostile_client().get(f"/campaigns/{SLUG}/widget/", {"sector": HOSTILE[payload]})
    assert response.status_code == 400
    assert response.content == b"Unknown sector."


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_the_feed_and_stats_ignore_hostile_query_parameters(published: Pledge, payload: str) -> None:
    client = hostile_client()
    for path in (f"/campaigns/{SLUG}/feed/", f"/campaigns/{SLUG}/feed/nhs/", f"/campaigns/{SLUG}/stats/"):
        response = client.get(path, {"sector": HOSTILE[payload], "page": HOSTILE[payload]})
        assert response.status_code == 200, path


def test_feeds_carry_hostile_pledge_text_escaped_and_exact(campaign: Any) -> None:
    text = "<script>alert(1)</script> & ]]> listen to every carer"
    pledge = create_pledge(campaign, 1, text=text, display_name="<b>Robert'); DROP--</b>")
    response = hostile_client().get(f"/campaigns/{SLUG}/feed/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "<script>" not in body
    assert html.escape(text, quote=False) in body
    # The feed is well-formed XML whose text is the pledge, exactly.
    from xml.etree import ElementTree

    root = ElementTree.fromstring(response.content)
    titles = [el.text for el in root.iter("{http://www.w3.org/2005/Atom}title")]
    assert f"I pledge to {pledge.text[:120]}" in titles


# --- The API ------------------------------------------------------------------------------------

API_PARAMS = ["sector", "integration", "region", "kind", "organisation", "q", "cursor", "limit"]


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_hostile_api_parameters_get_a_json_400_or_a_page(published: Pledge, payload: str) -> None:
    for param in API_PARAMS:
        response = hostile_client().get(f"/api/v1/campaigns/{SLUG}/pledges", {param: HOSTILE[payload]})
        assert response.status_code in (200, 400), (param, response.content[:300])
        body = json.loads(response.content)
        if response.status_code == 400:
            assert isinstance(body["detail"], str)
            assert len(body["detail"]) > 10
        else:
            assert "results" in body


@pytest.mark.parametrize("limit", ["0", "-1", "101", "1000000", "9" * 400, "1.5", "abc", "", "1e3", "0x10"])
def test_an_api_page_size_out_of_range_or_not_a_number_is_a_400_that_names_limit(
    published: Pledge, limit: str
) -> None:
    response = hostile_client().get(f"/api/v1/campaigns/{SLUG}/pledges", {"limit": limit})
    assert response.status_code == 400
    assert json.loads(response.content)["detail"].startswith("Check limit:")


def test_api_text_is_returned_exactly_as_the_pledger_wrote_it(campaign: Any) -> None:
    texts = [FAITHFUL[name] for name in ("rtl", "emoji", "template", "arabic")]
    for n, text in enumerate(texts, start=1):
        create_pledge(campaign, n, text=text, display_name=text[:100])
    response = hostile_client().get(f"/api/v1/campaigns/{SLUG}/pledges")
    assert response.status_code == 200
    returned = {item["text"] for item in json.loads(response.content)["results"]}
    assert returned == set(texts)


# --- The organiser login -------------------------------------------------------------------------


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_hostile_logins_are_refused_with_a_message(organiser: Any, payload: str) -> None:
    client = hostile_client()
    response = client.post("/accounts/login/", {"username": HOSTILE[payload], "password": HOSTILE[payload]})
    assert response.status_code in (200, 400)
    assert b"Traceback" not in response.content
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("next_url", ["//evil.example/", "javascript:alert(1)", "\x00", "/%00", "\\\\evil"])
def test_a_hostile_next_address_after_login_stays_on_this_site(organiser: Any, next_url: str) -> None:
    response = hostile_client().post(
        f"/accounts/login/?next={next_url}",
        {"username": "organiser@example.org", "password": "pw-organiser-1"},
    )
    assert response.status_code == 302
    assert response["Location"].startswith("/")
    assert not response["Location"].startswith("//")


@pytest.mark.parametrize("payload", ["null", "megabyte", "script"])
def test_a_hostile_password_reset_address_is_refused_or_ignored(db: None, payload: str) -> None:
    response = hostile_client().post("/accounts/password_reset/", {"email": HOSTILE[payload]})
    # Refused as bad input (the form again, with its message), or answered as any address is.
    assert response.status_code in (302, 400)
    if response.status_code == 400:
        assert "Enter a valid email address" in response.content.decode()


# --- Moderation: queue filters, decide, export -----------------------------------------------------

QUEUE_PARAMS = ["campaign", "status", "sector", "flag"]


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_hostile_queue_filters_are_a_400_with_a_message(
    organiser_client: Client, published: Pledge, payload: str
) -> None:
    for param in QUEUE_PARAMS:
        response = organiser_client.get("/moderation/", {param: HOSTILE[payload]})
        body = assert_refused_with_message(response)
        assert "from the list" in body, param


DECIDE_FIELDS = [
    "action",
    "reason_code",
    "reason_text",
    "expected_status",
    "pledge",
    "all_on_page",
    "return_to",
]


@pytest.mark.parametrize("payload", list(HOSTILE))
@pytest.mark.parametrize("htmx", [False, True])
def test_hostile_decisions_are_a_400_with_a_message_and_change_nothing(
    organiser_client: Client, campaign: Any, payload: str, htmx: bool
) -> None:
    headers = {"HX-Request": "true"} if htmx else {}
    for n, field in enumerate(DECIDE_FIELDS, start=1):
        pledge = create_pledge(campaign, n)
        data = {
            "pledge": pledge.public_id,
            "expected_status": Status.PUBLISHED,
            "action": "reject",
            "reason_code": "offensive",
            "reason_text": "",
            field: HOSTILE[payload],
        }
        response = organiser_client.post("/moderation/decide/", data, headers=headers)
        assert_not_a_server_error(response)
        pledge.refresh_from_db()
        if response.status_code == 400:
            assert len(response.content.decode().strip()) > 10
            assert pledge.status == Status.PUBLISHED
        else:
            # Only harmless values get through: a reason's text, a flag, where to go back to.
            assert field in ("reason_text", "all_on_page", "return_to", "expected_status"), field
            if field == "reason_text" and pledge.status == Status.REJECTED:
                assert pledge.rejection_reason.endswith(HOSTILE[payload].strip())


def test_a_bulk_decision_over_the_limit_is_refused_with_a_message(
    organiser_client: Client, published: Pledge
) -> None:
    data = {"action": "hide", "pledge": [published.public_id] * 201, "expected_status": "published"}
    response = organiser_client.post("/moderation/decide/", data)
    body = assert_refused_with_message(response)
    assert "at most 200 pledges at once" in body


EXPORT_PARAMS = ["campaign", "status", "sector", "region", "kind", "organisation", "q", "integration"]


@pytest.mark.parametrize("payload", list(HOSTILE))
def test_hostile_export_parameters_are_a_400_with_a_message_or_a_csv(
    organiser_client: Client, published: Pledge, payload: str
) -> None:
    for param in EXPORT_PARAMS:
        response = organiser_client.get("/moderation/export.csv", {param: HOSTILE[payload]})
        assert response.status_code in (200, 400), param
        if response.status_code == 400:
            assert len(response.content.decode().strip()) > 10
        else:
            assert response["Content-Type"].startswith("text/csv")
            b"".join(response.streaming_content).decode()


# --- Bodies and query strings no browser sends ---------------------------------------------------

RAW_BODIES = {
    "invalid_utf8": (
        b"reason=\xff\xfe&detail=\xc3\x28&username=\xff&password=\xfe",
        "application/x-www-form-urlencoded",
    ),
    "broken_multipart": (
        b'--nope\r\nContent-Disposition: form-data; name="a"\r\n\r\nx',
        "multipart/form-data; boundary=BOUNDARY",
    ),
    "no_boundary": (b"text=x", "multipart/form-data"),
    "json": (b'{"text": "<script>"}', "application/json"),
    "null_bytes": (b"\x00" * 1000, "application/x-www-form-urlencoded"),
}


@pytest.mark.parametrize("body", list(RAW_BODIES))
@pytest.mark.parametrize("csrf", [False, True])
def test_raw_bodies_no_browser_sends_are_a_4xx_on_every_form(
    published: Pledge, organiser: Any, body: str, csrf: bool
) -> None:
    content, content_type = RAW_BODIES[body]
    client = Client(raise_request_exception=False, enforce_csrf_checks=csrf)
    for path in (f"/campaigns/{SLUG}/pledge/", f"/pledges/{published.public_id}/report/"):
        response = client.post(path, content, content_type=content_type)
        assert 400 <= response.status_code < 500, (path, response.status_code)
    # Django's login page answers a failed sign-in with the form and its errors (200).
    response = client.post("/accounts/login/", content, content_type=content_type)
    assert response.status_code in (200, 400, 403)
    assert "_auth_user_id" not in client.session
    client.force_login(organiser)
    response = client.post("/moderation/decide/", content, content_type=content_type)
    assert 400 <= response.status_code < 500
    published.refresh_from_db()
    assert published.status == Status.PUBLISHED
    assert not published.reports.exists()


def test_invalid_utf8_in_the_organisers_query_strings_is_read_without_a_500(
    organiser_client: Client, published: Pledge
) -> None:
    for path in ("/moderation/", "/moderation/export.csv"):
        response = organiser_client.get(path, QUERY_STRING="campaign=\xff&status=\xc3\x28&q=\xfe")
        assert response.status_code == 400, path


def test_the_same_sector_sent_nine_hundred_times_makes_one_ordinary_pledge(
    campaign: Any, pledge_data: dict[str, Any]
) -> None:
    response = hostile_client().post(f"/campaigns/{SLUG}/pledge/", {**pledge_data, "sectors": ["nhs"] * 900})
    assert response.status_code == 302
    assert Pledge.objects.get().sector_slugs == ["nhs"]


@pytest.mark.parametrize("host", ["evil.example", "testserver\x00", "<script>", "a" * 300])
def test_a_hostile_host_header_is_a_400(published: Pledge, host: str) -> None:
    for path in ("/", f"/campaigns/{SLUG}/pledge/", f"/api/v1/campaigns/{SLUG}/pledges"):
        response = hostile_client().get(path, HTTP_HOST=host)
        assert response.status_code == 400, path


@pytest.mark.parametrize("slug", ["no-such-campaign", "\x00", "a" * 5000])
def test_an_export_of_a_campaign_that_does_not_exist_is_a_400_not_another_campaigns_pledges(
    organiser_client: Client, published: Pledge, slug: str
) -> None:
    response = organiser_client.get("/moderation/export.csv", {"campaign": slug})
    assert response.status_code == 400
    assert response.content.decode() == "That campaign does not exist. Choose one from the list."
