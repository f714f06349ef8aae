"""The pledge form through the real view: what a person sees when something they
typed is refused, and that nothing they typed is lost."""

from __future__ import annotations

import re
import uuid
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.http import HttpResponse
from django.shortcuts import render
from django.test import Client, RequestFactory
from django.utils.html import escape

from campaigns.models import Campaign
from outbox.models import OutboxEmail
from pledges import services
from pledges.forms import PledgeForm
from pledges.models import Pledge
from pledges.views import pledge_form_urls

pytestmark = pytest.mark.django_db

TEXT_FIELDS = ("text", "display_name", "role", "organisation", "email")
CHECKBOXES = ("is_anonymous", "wants_reminders", "consent_to_publish")
NULL_MESSAGE = "Null characters are not allowed."


class RenderedForm(HTMLParser):
    """What a browser would show in the pledge form: field values, ticked boxes,
    chosen options, the error shown under each field and the summary at the top."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.values: dict[str, str] = {}
        self.ticked: dict[str, set[str]] = {}
        self.selected: dict[str, str] = {}
        self.errors: dict[str, str] = {}
        self.summary_links: list[str] = []
        self.ids: set[str] = set()
        self._textarea: str | None = None
        self._select: str | None = None
        self._error_field: str | None = None
        self._error_depth = 0
        self._in_summary = False
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {name: value or "" for name, value in attrs}
        if "id" in attr:
            self.ids.add(attr["id"])
        if self._error_field is not None:
            self._error_depth += 1
        elif tag == "div" and attr.get("id", "").startswith("id_") and attr["id"].endswith("_error"):
            self._error_field = attr["id"][len("id_") : -len("_error")]
            self._error_depth = 1
            self.errors.setdefault(self._error_field, "")
        name = attr.get("name", "")
        if tag == "input":
            kind = attr.get("type", "text")
            if kind in ("checkbox", "radio"):
                if "checked" in attr:
                    self.ticked.setdefault(name, set()).add(attr.get("value", "on"))
            elif kind != "submit":
                self.values[name] = attr.get("value", "")
        elif tag == "textarea":
            self._textarea = name
            self.values[name] = ""
        elif tag == "select":
            self._select = name
        elif tag == "option" and self._select and "selected" in attr:
            self.selected[self._select] = attr.get("value", "")
        elif tag == "a" and self._in_summary and attr.get("href", "").startswith("#"):
            self.summary_links.append(attr["href"][1:])
        if attr.get("id") == "form-errors":
            self._in_summary = True
        elif tag == "form":
            self._in_summary = False

    def handle_endtag(self, tag: str) -> None:
        if self._error_field is not None:
            self._error_depth -= 1
            if self._error_depth == 0:
                self._error_field = None
        if tag == "textarea":
            self._textarea = None
        elif tag == "select":
            self._select = None

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            self.values[self._textarea] += data
        if self._error_field is not None:
            self.errors[self._error_field] += data

    def textarea(self, name: str) -> str:
        # HTML drops one newline straight after <textarea>; Django writes one.
        value = self.values[name]
        return value[1:] if value.startswith("\n") else value

    def error(self, field: str) -> str:
        return " ".join(self.errors.get(field, "").split())


def submit(client: Client, campaign: Campaign, data: dict[str, Any]) -> HttpResponse:
    return client.post(f"/campaigns/{campaign.slug}/pledge/", data)


def confirm_path(pledge: Pledge) -> str:
    return urlsplit(services.pledge_confirmation_url(pledge=pledge)).path


def assert_refused(response: HttpResponse, *, field: str, message: str, sent: dict[str, Any]) -> RenderedForm:
    """A 400 with the message under the field and in the summary, nothing stored,
    and everything the person typed still in the form."""
    assert response.status_code == 400
    html = response.content.decode()
    form = RenderedForm(html)
    assert message in form.error(field), f"{message!r} not shown under {field}: {form.errors}"
    assert escape(message) in html.split('id="form-errors"', 1)[1].split("</ul>", 1)[0]
    assert Pledge.objects.count() == 0
    assert OutboxEmail.objects.count() == 0

    for name in TEXT_FIELDS:
        if name not in sent:
            continue
        shown = form.textarea(name) if name == "text" else form.values[name]
        # A browser cannot show a NUL, and the server trims the ends of every
        # value: what matters is that the rest is still there, escaped.
        typed = sent[name].replace("\x00", "").strip()
        assert shown.replace("\x00", "").strip() == typed, name
        assert escape(typed) in html.replace("\x00", ""), name
    for name in CHECKBOXES:
        assert (name in form.ticked) == (name in sent), name
    assert form.values["submission_token"] == sent["submission_token"]
    return form


def refused_with(
    client: Client, campaign: Campaign, pledge_data: dict[str, Any], **changes: Any
) -> tuple[HttpResponse, dict[str, Any]]:
    data = {**pledge_data}
    for name, value in changes.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return submit(client, campaign, data), data


@pytest.mark.parametrize("text", ["", "   ", " \r\n\t \r\n "])
def test_empty_or_whitespace_only_text_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any], text: str
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, text=text)

    form = assert_refused(response, field="text", message="Write your pledge.", sent=sent)
    assert form.ticked["sectors"] == {"nhs", "social-care"}
    assert form.selected["region"] == "north-east-and-yorkshire"
    assert form.ticked["kind"] == {"personal"}


def test_a_missing_text_field_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, text=None)

    assert_refused(response, field="text", message="Write your pledge.", sent=sent)


@pytest.mark.parametrize("text", ["<b>hi</b>", "  123456789  ", 'a&b "c" \''])
def test_text_under_ten_characters_is_refused_and_kept_as_typed(
    campaign: Campaign, pledge_data: dict[str, Any], text: str
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, text=text)

    assert_refused(response, field="text", message="Your pledge needs at least 10 characters.", sent=sent)
    assert "<b>hi</b>" not in response.content.decode()


def test_text_over_500_characters_is_refused_with_its_length_and_kept_as_typed(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    text = ('Be kind & listen to "every" <carer>. ' * 20)[:500] + "!"
    assert len(text) == 501

    response, sent = refused_with(Client(), campaign, pledge_data, text=text)

    assert_refused(
        response,
        field="text",
        message="Your pledge can be at most 500 characters (it has 501).",
        sent=sent,
    )
    assert "<carer>" not in response.content.decode()


@pytest.mark.parametrize("length", [10, 500])
def test_text_of_exactly_10_or_500_characters_is_accepted(
    campaign: Campaign, pledge_data: dict[str, Any], length: int
) -> None:
    text = ("Listen more, " * 50)[: length - 1] + "."
    assert len(text) == length

    response = submit(Client(), campaign, {**pledge_data, "text": text})

    assert response.status_code == 302
    assert Pledge.objects.get().text == text


def test_a_500_character_pledge_with_line_breaks_typed_in_a_browser_is_accepted(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    # The textarea's maxlength counts a line break as one character, but the
    # browser sends it as CRLF: the server must count the way the browser did.
    lines = ["I will ask every patient what matters to them today."] * 9
    text = "\n".join(lines)
    text += "x" * (500 - len(text))
    assert len(text) == 500

    response = submit(Client(), campaign, {**pledge_data, "text": text.replace("\n", "\r\n")})

    assert response.status_code == 302
    assert Pledge.objects.get().text == text


def test_no_sector_is_refused_with_a_message(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, sectors=None)

    form = assert_refused(response, field="sectors", message="Choose at least one sector.", sent=sent)
    assert "sectors" not in form.ticked


def test_an_unknown_sector_is_refused_with_a_message(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, sectors=["nhs", "<dentistry>"])

    form = assert_refused(response, field="sectors", message="Choose sectors from the list.", sent=sent)
    assert form.ticked["sectors"] == {"nhs"}
    assert "<dentistry>" not in response.content.decode()


@pytest.mark.parametrize("region", ["atlantis", "", "London"])
def test_an_unknown_or_missing_region_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any], region: str
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, region=region)

    message = "Choose a region from the list." if region else "Choose your region."
    form = assert_refused(response, field="region", message=message, sent=sent)
    assert form.selected.get("region", "") == ""
    assert form.ticked["sectors"] == {"nhs", "social-care"}


def test_an_unknown_kind_is_refused_with_a_message(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, kind="corporate")

    form = assert_refused(response, field="kind", message="Choose personal or organisational.", sent=sent)
    assert "kind" not in form.ticked
    assert form.selected["region"] == "north-east-and-yorkshire"


@pytest.mark.parametrize(
    "email", ["sam.patel", "sam.patel@", "sam patel@example.org", 'sam"<patel>@example.org']
)
def test_an_invalid_email_is_refused_and_kept_as_typed(
    campaign: Campaign, pledge_data: dict[str, Any], email: str
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, email=email)

    assert_refused(
        response, field="email", message="Enter an email address like name@example.org.", sent=sent
    )
    assert "<patel>" not in response.content.decode()


def test_a_missing_email_is_refused_with_a_message(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, email="")

    assert_refused(
        response,
        field="email",
        message="Enter your email address so you can confirm your pledge.",
        sent=sent,
    )


def test_missing_consent_is_refused_with_a_message(campaign: Campaign, pledge_data: dict[str, Any]) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, consent_to_publish=None)

    assert_refused(
        response,
        field="consent_to_publish",
        message="Pledges are public: tick this box to agree to publication.",
        sent=sent,
    )


@pytest.mark.parametrize("display_name", ["", "   "])
def test_a_missing_display_name_without_anonymous_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any], display_name: str
) -> None:
    response, sent = refused_with(Client(), campaign, pledge_data, display_name=display_name)

    assert_refused(
        response,
        field="display_name",
        message="Enter the name to show, or tick “Show my pledge as anonymous”.",
        sent=sent,
    )


@pytest.mark.parametrize("display_name", ["", "Sam Patel"])
def test_an_anonymous_pledge_is_accepted_and_shown_as_anonymous_after_confirming(
    campaign: Campaign, pledge_data: dict[str, Any], display_name: str
) -> None:
    browser = Client()
    data = {**pledge_data, "display_name": display_name, "is_anonymous": "on"}

    response = submit(browser, campaign, data)
    assert response.status_code == 302
    pledge = Pledge.objects.get()
    confirmed = browser.post(confirm_path(pledge))
    assert confirmed.status_code == 302

    permalink = Client().get(confirmed["Location"])
    body = permalink.content.decode()
    assert permalink.status_code == 200
    assert "<strong>anonymous</strong>" in body
    assert "Sam Patel" not in body
    assert pledge_data["text"] in body


@pytest.mark.parametrize(
    ("field", "messages"),
    [
        ("text", [NULL_MESSAGE]),
        ("display_name", [NULL_MESSAGE]),
        ("role", [NULL_MESSAGE]),
        ("organisation", [NULL_MESSAGE]),
        ("email", [NULL_MESSAGE, "Enter an email address like name@example.org."]),
    ],
)
def test_a_null_byte_in_a_field_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any], field: str, messages: list[str]
) -> None:
    typed = pledge_data[field]
    cut = len(typed) // 2
    response, sent = refused_with(
        Client(), campaign, pledge_data, **{field: f"{typed[:cut]}\x00{typed[cut:]}"}
    )

    form = assert_refused(response, field=field, message=messages[0], sent=sent)
    for message in messages:
        assert message in form.error(field)


@pytest.mark.parametrize("field", ["region", "kind", "sectors"])
def test_a_null_byte_in_a_choice_is_refused_with_a_message(
    campaign: Campaign, pledge_data: dict[str, Any], field: str
) -> None:
    value = {"region": "lon\x00don", "kind": "personal\x00", "sectors": ["nhs\x00"]}[field]
    message = {
        "region": "Choose a region from the list.",
        "kind": "Choose personal or organisational.",
        "sectors": "Choose sectors from the list.",
    }[field]

    response, sent = refused_with(Client(), campaign, pledge_data, **{field: value})

    assert_refused(response, field=field, message=message, sent=sent)


def test_the_error_summary_links_to_every_field_with_a_problem(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    response, _ = refused_with(
        Client(), campaign, pledge_data, text="", sectors=None, kind="x", region="", email="x"
    )

    assert response.status_code == 400
    form = RenderedForm(response.content.decode())
    assert len(form.summary_links) == 5
    for target in form.summary_links:
        assert target in form.ids, f"the summary links to #{target}, which is not on the page"
    assert {link.split("_")[1] for link in form.summary_links} == {
        "text",
        "sectors",
        "kind",
        "region",
        "email",
    }


@pytest.mark.parametrize("token", [None, "", "not-a-uuid", "\x00", str(uuid.uuid4())[:-1]])
def test_a_missing_or_mangled_submission_token_does_not_fail_the_submission(
    campaign: Campaign, pledge_data: dict[str, Any], token: str | None
) -> None:
    data = {**pledge_data}
    if token is None:
        del data["submission_token"]
    else:
        data["submission_token"] = token

    response = submit(Client(), campaign, data)

    assert response.status_code == 302
    assert response["Location"] == f"/campaigns/{campaign.slug}/pledge/sent/"
    assert Pledge.objects.get().text == pledge_data["text"]


def test_a_mangled_submission_token_is_still_a_single_pledge_when_sent_twice(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    data = {**pledge_data, "submission_token": "mangled"}

    first = submit(Client(), campaign, data)
    second = submit(Client(), campaign, data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Pledge.objects.count() == 1


# The blank form is rendered once per process and campaign, then filled in with each visitor's
# tokens (pledges.views._blank_form_html).
_CSRF_INPUT = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
_SUBMISSION_INPUT = re.compile(r'name="submission_token" value="([^"]+)"')


def _tokens_blanked(page: str) -> str:
    return _SUBMISSION_INPUT.sub(
        'name="submission_token" value=""', _CSRF_INPUT.sub('name="csrfmiddlewaretoken" value=""', page)
    )


def test_the_form_page_is_the_full_rendering_with_each_visitors_own_tokens(campaign: Campaign) -> None:
    url = f"/campaigns/{campaign.slug}/pledge/"
    first, second = Client(enforce_csrf_checks=True), Client(enforce_csrf_checks=True)
    pages = [client.get(url) for client in (first, second, first)]
    assert all(page.status_code == 200 for page in pages)

    # What a fresh rendering of the whole template gives, tokens aside.
    request = RequestFactory().get(url)
    form = PledgeForm(initial={"submission_token": uuid.uuid4()}, **pledge_form_urls(campaign))
    rendered = render(request, "pledges/create.html", {"campaign": campaign, "form": form}).content.decode()
    assert _tokens_blanked(pages[0].content.decode()) == _tokens_blanked(rendered)

    submissions = [_SUBMISSION_INPUT.search(page.content.decode()).group(1) for page in pages]
    assert len(set(submissions)) == 3, "two visits were given the same submission token"
    for submission in submissions:
        uuid.UUID(submission)
    csrf = [_CSRF_INPUT.search(page.content.decode()).group(1) for page in pages]
    assert "stand-in" not in " ".join(csrf)
    assert all(page.cookies.get("csrftoken") for page in pages[:2]), "a visitor was given no CSRF cookie"


def test_two_visitors_each_pledge_with_the_tokens_of_their_own_form_page(
    campaign: Campaign, pledge_data: dict[str, Any]
) -> None:
    url = f"/campaigns/{campaign.slug}/pledge/"
    for n in range(2):
        client = Client(enforce_csrf_checks=True)
        page = client.get(url).content.decode()
        data = {
            **pledge_data,
            "email": f"visitor{n}@example.org",
            "csrfmiddlewaretoken": _CSRF_INPUT.search(page).group(1),
            "submission_token": _SUBMISSION_INPUT.search(page).group(1),
        }
        assert client.post(url, data).status_code == 302
    assert Pledge.objects.count() == 2
