from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import include, path

from campaigns.permissions import is_organiser, organiser_required
from campaigns.services import ORGANISERS_GROUP
from outbox import services as outbox_services
from outbox.models import OutboxEmail
from testsupport.mail import email_html, email_text

pytestmark = pytest.mark.django_db

STRONG = "kettle-harbour-violet-42"


@organiser_required
def _moderation_probe(request: HttpRequest) -> HttpResponse:
    return HttpResponse("for organisers")


# The URLconf for the organiser_required tests (@pytest.mark.urls(__name__)): the
# site's own URLs stay, since the login redirect and the 403 page's layout use them.
urlpatterns = [path("probe/", _moderation_probe), path("", include("changeday.urls"))]


def _createorganiser(*args: str) -> str:
    out = io.StringIO()
    call_command("createorganiser", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def _log_in(client: Client, username: str, password: str) -> Any:
    return client.post("/accounts/login/", {"username": username, "password": password})


# --- createorganiser -----------------------------------------------------------------


def test_createorganiser_with_a_password_makes_an_organiser_who_can_log_in() -> None:
    output = _createorganiser("Jane.Doe@NHS.example", "--password", STRONG, "--no-input")

    user = get_user_model().objects.get()
    assert user.username == user.email == "jane.doe@nhs.example"
    assert user.is_staff and not user.is_superuser
    assert user.groups.filter(name=ORGANISERS_GROUP).exists()
    assert is_organiser(user)
    assert "Created organiser jane.doe@nhs.example" in output
    assert STRONG not in output, "a password the operator typed is not echoed"

    response = _log_in(Client(), "jane.doe@nhs.example", STRONG)
    assert response.status_code == 302
    assert response["Location"] == settings.LOGIN_REDIRECT_URL


def test_createorganiser_without_a_password_or_a_terminal_prints_a_generated_one_that_works() -> None:
    output = _createorganiser("sam@nhs.example")

    password = re.search(r"Generated password: (\S+)", output).group(1)
    assert len(password) >= 20
    response = _log_in(Client(), "sam@nhs.example", password)
    assert response["Location"] == settings.LOGIN_REDIRECT_URL


def test_createorganiser_at_a_terminal_asks_for_the_password_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    answers = iter(["first-try-mismatch-9", "something-else-9", STRONG, STRONG])
    monkeypatch.setattr("sys.stdin", Terminal())
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))

    output = _createorganiser("ana@nhs.example")

    assert "Generated password" not in output
    assert Client().login(username="ana@nhs.example", password=STRONG)


def test_createorganiser_refuses_a_bad_email_address() -> None:
    with pytest.raises(CommandError, match="not a valid email address"):
        _createorganiser("not-an-email", "--password", STRONG, "--no-input")
    assert not get_user_model().objects.exists()


def test_createorganiser_refuses_a_weak_password_with_the_validators_reasons() -> None:
    with pytest.raises(CommandError, match="too common") as refused:
        _createorganiser("jo@nhs.example", "--password", "password", "--no-input")
    assert "too short" not in str(refused.value)
    with pytest.raises(CommandError, match="too short"):
        _createorganiser("jo@nhs.example", "--password", "x7!", "--no-input")
    assert not get_user_model().objects.exists()


def test_running_createorganiser_again_keeps_one_user_and_the_password_unless_given_one() -> None:
    _createorganiser("lee@nhs.example", "--password", STRONG, "--no-input")

    output = _createorganiser("lee@nhs.example", "--no-input")

    assert "password unchanged" in output
    assert "Generated password" not in output
    user = get_user_model().objects.get()
    assert user.groups.count() == 1
    assert Client().login(username="lee@nhs.example", password=STRONG)

    output = _createorganiser("lee@nhs.example", "--password", "new-" + STRONG, "--no-input")
    assert "password changed" in output
    assert Client().login(username="lee@nhs.example", password="new-" + STRONG)


def test_createorganiser_makes_an_existing_user_an_organiser(stranger: Any) -> None:
    assert not is_organiser(stranger)

    _createorganiser(stranger.email, "--no-input")

    stranger.refresh_from_db()
    assert stranger.is_staff
    assert is_organiser(stranger)
    assert Client().login(username=stranger.username, password="pw-stranger-1")


# --- Login and logout ------------------------------------------------------------------


def test_the_login_page_has_labelled_fields_for_password_managers(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    html = response.content.decode()
    assert '<label class="form-label fw-semibold" for="id_username">Email address</label>' in html
    assert 'autocomplete="username"' in html
    assert 'autocomplete="current-password"' in html
    assert 'href="/accounts/password_reset/"' in html


def test_an_organiser_logs_in_and_lands_on_moderation(client: Client, organiser: Any) -> None:
    response = _log_in(client, "organiser@example.org", "pw-organiser-1")

    assert response.status_code == 302
    assert response["Location"] == "/moderation/"
    assert client.session["_auth_user_id"] == str(organiser.pk)


def test_login_returns_to_the_page_that_asked_for_it(client: Client, organiser: Any) -> None:
    response = client.post(
        "/accounts/login/?next=/moderation/queue/",
        {"username": "organiser@example.org", "password": "pw-organiser-1", "next": "/moderation/queue/"},
    )

    assert response["Location"] == "/moderation/queue/"


def test_a_wrong_password_shows_an_error_and_does_not_log_in(client: Client, organiser: Any) -> None:
    response = _log_in(client, "organiser@example.org", "wrong-password")

    assert response.status_code == 200
    assert "do not match an organiser account" in response.content.decode()
    assert 'value="organiser@example.org"' in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_log_out_works_by_post(client: Client, organiser: Any) -> None:
    client.force_login(organiser)

    response = client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert "_auth_user_id" not in client.session


def test_the_navbar_offers_moderation_and_log_out_to_organisers_and_login_to_others(
    client: Client, organiser: Any, stranger: Any
) -> None:
    page = "/accounts/password_reset/"
    anonymous = client.get(page).content.decode()
    assert "Organiser login" in anonymous and "Log out" not in anonymous

    client.force_login(organiser)
    signed_in = client.get(page).content.decode()
    assert 'href="/moderation/">Moderation</a>' in signed_in
    assert 'action="/accounts/logout/"' in signed_in and "Organiser login" not in signed_in

    client.force_login(stranger)
    other = client.get(page).content.decode()
    assert "Moderation</a>" not in other and "Log out" in other


# --- Password reset -------------------------------------------------------------------


PROXY = "10.0.0.5"


def _ask_reset(email: str, network: str = "198.51.100.7", **extra: str) -> Any:
    client = Client(REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR=network)
    return client.post("/accounts/password_reset/", {"email": email}, **extra)


def _worker_sends_owed_resets() -> None:
    """What a Celery worker does with the ids the request handed over."""
    for outbox in OutboxEmail.objects.filter(kind="password-reset", sent_at__isnull=True):
        outbox_services.outbox_send(outbox_id=outbox.pk)


def _reset_path(message: Any, site_url: str = "http://testserver") -> str:
    match = re.search(rf"{re.escape(site_url)}(/accounts/reset/\S+/)", email_text(message))
    assert match, email_text(message)
    assert f"{site_url}{match[1]}" in email_html(message)
    return match[1]


def _answer(response: Any) -> tuple[int, str, bytes, list[tuple[str, str]]]:
    """What a visitor can tell a response by, apart from its cookies."""
    headers = sorted((name, value) for name, value in response.items() if name.lower() != "set-cookie")
    return response.status_code, response.get("Location", ""), response.content, headers


@pytest.fixture
def behind_proxy(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 1


def test_a_password_reset_email_comes_through_the_outbox_and_its_link_sets_a_new_password(
    client: Client, organiser: Any, smtp_inbox: Any
) -> None:
    response = client.post("/accounts/password_reset/", {"email": "organiser@example.org"})
    assert response["Location"] == "/accounts/password_reset/done/"
    # Nothing is sent in the request: the email waits in the outbox for a worker.
    assert smtp_inbox.messages == []
    assert (
        OutboxEmail.objects.filter(subject_id=organiser.pk, kind="password-reset", sent_at=None).count() == 1
    )

    _worker_sends_owed_resets()
    [message] = smtp_inbox.wait_for(1)
    assert message["To"] == "organiser@example.org"
    assert message["Subject"] == "Reset your changeday organiser password"
    link = _reset_path(message)

    form_page = client.get(link, follow=True)
    assert form_page.status_code == 200
    assert "Choose a new password" in form_page.content.decode()
    set_password_url = form_page.redirect_chain[-1][0]
    new_password = "a-brand-new-" + STRONG
    done = client.post(set_password_url, {"new_password1": new_password, "new_password2": new_password})
    assert done["Location"] == "/accounts/reset/done/"

    assert not Client().login(username="organiser@example.org", password="pw-organiser-1")
    fresh = Client()
    assert _log_in(fresh, "organiser@example.org", new_password)["Location"] == "/moderation/"
    # The link works once.
    assert "This link does not work" in client.get(link, follow=True).content.decode()


def test_a_reset_answers_known_and_unknown_addresses_alike_with_the_same_work_and_no_mail_in_the_request(
    organiser: Any, smtp_inbox: Any, behind_proxy: None
) -> None:
    answers = {}
    statements = {}
    # A look-alike of the organiser's address (dotless ı) is an unknown address too.
    for email in ("organiser@example.org", "nobody@example.org", "organıser@example.org"):
        with CaptureQueriesContext(connection) as queries:
            response = _ask_reset(email, network="198.51.100.7")
        answers[email] = _answer(response)
        statements[email] = len(queries)
    assert answers["nobody@example.org"] == answers["organiser@example.org"]
    assert answers["organıser@example.org"] == answers["organiser@example.org"]
    assert answers["organiser@example.org"][:2] == (302, "/accounts/password_reset/done/")
    assert len(set(statements.values())) == 1, statements

    page = Client().get("/accounts/password_reset/done/")
    assert "Check your email" in page.content.decode()
    assert smtp_inbox.messages == []
    assert [
        get_user_model().objects.get(pk=pk).email
        for pk in OutboxEmail.objects.values_list("subject_id", flat=True)
    ] == ["organiser@example.org"]

    _worker_sends_owed_resets()
    assert [m["To"] for m in smtp_inbox.wait_for(1)] == ["organiser@example.org"]


def test_a_weak_new_password_is_refused_with_the_reason(
    client: Client, organiser: Any, smtp_inbox: Any
) -> None:
    client.post("/accounts/password_reset/", {"email": "organiser@example.org"})
    _worker_sends_owed_resets()
    [message] = smtp_inbox.wait_for(1)
    set_password_url = client.get(_reset_path(message), follow=True).redirect_chain[-1][0]

    response = client.post(set_password_url, {"new_password1": "password", "new_password2": "password"})

    assert response.status_code == 200
    assert "This password is too common." in response.content.decode()
    assert 'aria-invalid="true"' in response.content.decode()


def test_a_reset_link_is_built_from_site_url_never_from_a_forged_host_header(
    organiser: Any, smtp_inbox: Any, settings: Any
) -> None:
    settings.ALLOWED_HOSTS = ["testserver", "evil.example"]
    settings.SITE_URL = "https://changeday.example"
    Client().post("/accounts/password_reset/", {"email": "organiser@example.org"}, HTTP_HOST="evil.example")
    _worker_sends_owed_resets()

    [message] = smtp_inbox.wait_for(1)
    assert "evil.example" not in email_text(message) + email_html(message)
    link = _reset_path(message, site_url="https://changeday.example")
    assert "Choose a new password" in Client().get(link, follow=True).content.decode()


def test_reset_requests_from_one_network_are_limited_with_a_friendly_429(
    organiser: Any, settings: Any, behind_proxy: None
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password-reset": (2, 3600)}
    statuses = [_ask_reset(f"someone{n}@example.org", network="203.0.113.5").status_code for n in range(3)]
    assert statuses == [302, 302, 429]
    held = _ask_reset("organiser@example.org", network="203.0.113.5")
    assert held.status_code == 429
    assert 1 <= int(held["Retry-After"]) <= 3600
    assert "a lot of password reset requests" in held.content.decode()
    assert not OutboxEmail.objects.exists()
    assert _ask_reset("organiser@example.org", network="203.0.113.6").status_code == 302
    assert OutboxEmail.objects.count() == 1


def test_reset_requests_for_one_address_are_limited_without_saying_whether_it_has_an_account(
    organiser: Any, settings: Any, behind_proxy: None
) -> None:
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "password-reset-account": (2, 3600)}
    # From three networks, in three spellings of one address.
    spellings = ["organiser@example.org", "Organiser@EXAMPLE.org", " organiser@example.org "]
    known = [_answer(_ask_reset(email, network=f"203.0.113.{n + 1}")) for n, email in enumerate(spellings)]
    unknown = [_answer(_ask_reset("nobody@example.org", network=f"203.0.113.{n + 1}")) for n in range(3)]

    assert known[0][:2] == (302, "/accounts/password_reset/done/")
    assert known[2] == known[0] == unknown[2] == unknown[0]
    # The third asked for nothing more.
    assert OutboxEmail.objects.filter(subject_id=organiser.pk).count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.redis("the Celery broker")
def test_a_reset_email_is_sent_by_a_celery_worker_after_the_request_has_answered(
    organiser: Any, smtp_inbox: Any
) -> None:
    from celery.contrib.testing.worker import start_worker

    from changeday.celery import app
    from outbox.publisher import publisher

    app.control.purge()
    response = Client().post("/accounts/password_reset/", {"email": "organiser@example.org"})
    assert response.status_code == 302
    # What the web process's publisher does within a second: hand the email to the broker.
    publisher.flush()
    assert smtp_inbox.messages == []

    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        [message] = smtp_inbox.wait_for(1)

    assert message["To"] == "organiser@example.org"
    link = _reset_path(message)
    assert "Choose a new password" in Client().get(link, follow=True).content.decode()
    assert OutboxEmail.objects.get(subject_id=organiser.pk).sent_at is not None


# --- organiser_required -------------------------------------------------------------------


@pytest.mark.urls(__name__)
def test_organiser_required_sends_anonymous_visitors_to_log_in(client: Client) -> None:
    response = client.get("/probe/?page=2")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=/probe/%3Fpage%3D2"


@pytest.mark.urls(__name__)
def test_organiser_required_refuses_a_logged_in_stranger(client: Client, stranger: Any) -> None:
    client.force_login(stranger)

    assert client.get("/probe/").status_code == 403


@pytest.mark.urls(__name__)
def test_organiser_required_lets_an_organiser_in(client: Client, organiser: Any) -> None:
    client.force_login(organiser)

    response = client.get("/probe/")

    assert response.status_code == 200
    assert response.content == b"for organisers"


def test_a_superuser_counts_as_an_organiser_and_an_inactive_organiser_does_not(organiser: Any) -> None:
    boss = get_user_model().objects.create_superuser("boss@example.org", "boss@example.org", STRONG)
    assert is_organiser(boss)

    organiser.is_active = False
    organiser.save()
    assert not is_organiser(organiser)
