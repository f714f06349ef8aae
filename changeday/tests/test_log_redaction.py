"""The tokens of emailed links never reach a log: not Django's request and
security logs, not the development server's request lines, not a Celery
worker's log, not gunicorn's access log."""

from __future__ import annotations

import io
import logging
import logging.config
import re
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.tokens import default_token_generator
from django.core.handlers.wsgi import WSGIHandler
from django.core.servers.basehttp import WSGIRequestHandler, WSGIServer
from django.db import connections
from django.test import Client
from django.urls import URLResolver, get_resolver
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from changeday.lib.logfilters import REDACTED, redact
from changeday.lib.tokens import make_token
from conftest import create_pledge
from pledges.models import Pledge
from pledges.services import CONFIRM_PURPOSE, DATA_PURPOSE, WITHDRAW_PURPOSE
from reminders.services import SIGNUP_CONFIRM_PURPOSE, UNSUBSCRIBE_PURPOSE
from testsupport import processes

ROOT = Path(__file__).resolve().parents[2]


def tampered(token: str) -> str:
    return token[:-1] + ("A" if token[-1] != "A" else "B")


def assert_no_token_in(log: str, tokens: list[str]) -> None:
    assert log.strip(), "nothing was logged"
    for token in tokens:
        assert token not in log
        # Nor its secret part alone: the signature (after the signer's last ":"; it may hold a "-"
        # itself, as URL-safe base64 does), or a reset token's hash (after its "-").
        secret = token.rsplit(":", 1)[-1] if ":" in token else token.rsplit("-", 1)[-1]
        assert secret not in log
    assert REDACTED in log


@pytest.fixture
def project_log() -> Iterator[io.StringIO]:
    """What every handler settings.LOGGING configures writes, in one buffer."""
    # A Celery worker an earlier test started in this process replaced the root logger's handlers
    # with its own (worker_hijack_root_logger): start from the configuration as a process has it.
    logging.config.dictConfig(settings.LOGGING)
    loggers = [
        logging.getLogger(),
        *(logging.getLogger(name) for name in settings.LOGGING.get("loggers", {})),
    ]
    handlers = {
        handler for log in loggers for handler in log.handlers if handler.name in settings.LOGGING["handlers"]
    }
    assert {handler.name for handler in handlers} == set(settings.LOGGING["handlers"])
    buffer = io.StringIO()
    previous = {handler: handler.setStream(buffer) for handler in handlers}
    yield buffer
    for handler, stream in previous.items():
        if stream is not None:
            handler.setStream(stream)


@pytest.fixture
def pledge(campaign: Any) -> Pledge:
    return create_pledge(campaign, 1, confirm=False, email="sam.logs@example.org")


def _routes(patterns: list[Any], prefix: str = "") -> Iterator[str]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _routes(entry.url_patterns, prefix + str(entry.pattern))
        else:
            yield prefix + str(entry.pattern)


def test_every_address_in_the_urlconf_that_carries_a_token_is_redacted_by_its_shape() -> None:
    signed = make_token(purpose="any", value="AbCdEf123456")
    reset = "cz3k4q-0123456789abcdef0123456789abcdef"
    token_routes = [route for route in _routes(get_resolver().url_patterns) if "token>" in route]
    assert "accounts/reset/<uidb64>/<token>/" in token_routes
    assert len(token_routes) >= 8  # confirm, withdraw, three "your data", remind-me, unsubscribe, reset
    for route in token_routes:
        for token in (signed, reset, "short-and-unsigned"):
            path = "/" + re.sub(
                r"<(?:\w+:)?(\w+)>",
                lambda part, token=token: {"token": token, "uidb64": "MQ"}.get(part[1], "x"),
                route,
            )
            line = redact(f'Not Found: {path} "GET {path}?a=1 HTTP/1.1" 404')
            assert token not in line, route
            assert REDACTED in line


def test_a_signed_token_anywhere_in_a_line_is_redacted_and_ordinary_lines_are_left_alone() -> None:
    token = make_token(purpose=DATA_PURPOSE, value="AbCdEf123456")
    assert redact(f"retrying /some/new/path/{token}/ now") == f"retrying /some/new/path/{REDACTED}/ now"
    assert redact(f"link={token.replace(':', '%3A')}.") == f"link={REDACTED}."
    for line in (
        "Not Found: /your-data/sent/",
        "Not Found: /accounts/reset/MQ/set-password/",
        "12:30:45 from 2001:db8::1 to /campaigns/change-day-2027/wall/?sector=nhs",
    ):
        assert redact(line) == line


@pytest.mark.django_db
def test_token_links_answered_with_a_4xx_leave_no_token_in_the_configured_logs(
    pledge: Pledge, organiser: Any, project_log: io.StringIO, settings: Any
) -> None:
    confirm = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
    data = make_token(purpose=DATA_PURPOSE, value=pledge.public_id)
    reset = default_token_generator.make_token(organiser)
    uid = urlsafe_base64_encode(force_bytes(organiser.pk))
    bad = {
        "withdraw": tampered(make_token(purpose=WITHDRAW_PURPOSE, value=pledge.public_id)),
        "remind": tampered(make_token(purpose=SIGNUP_CONFIRM_PURPOSE, value="s" * 12)),
        "unsubscribe": tampered(make_token(purpose=UNSUBSCRIBE_PURPOSE, value=f"p.{pledge.public_id}")),
    }
    visitor = Client()
    answers = [
        visitor.get(f"/pledges/confirm/{tampered(confirm)}/").status_code,
        visitor.get(f"/pledges/confirm/{confirm}/garbage/").status_code,
        # A valid link posted without the form's CSRF token: django.security.csrf logs the path.
        Client(enforce_csrf_checks=True).post(f"/pledges/confirm/{confirm}/").status_code,
        visitor.get(f"/pledges/withdraw/{bad['withdraw']}/").status_code,
        visitor.get(f"/your-data/{data}/pledges.json/extra").status_code,
        Client(enforce_csrf_checks=True).post(f"/your-data/{data}/delete/").status_code,
        visitor.get(f"/reminders/confirm/{bad['remind']}/").status_code,
        visitor.get(f"/reminders/unsubscribe/{bad['unsubscribe']}/").status_code,
        visitor.get(f"/accounts/reset/{uid}/{reset}/garbage/").status_code,
    ]
    settings.PLEDGE_CONFIRMATION_MAX_AGE = timedelta(seconds=-1)
    answers.append(visitor.post(f"/pledges/confirm/{confirm}/").status_code)
    assert answers == [400, 404, 403, 400, 404, 403, 400, 400, 404, 410]

    log = project_log.getvalue()
    assert_no_token_in(log, [confirm, tampered(confirm), data, reset, *bad.values()])
    assert f"Not Found: /pledges/confirm/{REDACTED}/garbage/" in log
    assert f"Gone: /pledges/confirm/{REDACTED}/" in log
    assert f"Not Found: /accounts/reset/{REDACTED}/{REDACTED}/garbage/" in log
    assert len(log.splitlines()) >= len(answers)


@pytest.mark.django_db(transaction=True)
def test_the_development_server_logs_request_lines_without_their_tokens(
    pledge: Pledge, project_log: io.StringIO
) -> None:
    confirm = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
    server = WSGIServer(("127.0.0.1", 0), WSGIRequestHandler)
    server.set_app(WSGIHandler())

    def serve() -> None:
        try:
            server.serve_forever()
        finally:
            # The requests' database connection belongs to this thread: close it here,
            # or it outlives the test and holds the test database open.
            connections.close_all()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        statuses = [
            _status(f"{base}/pledges/confirm/{path}") for path in (f"{confirm}/", f"{confirm}/garbage/")
        ]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    assert statuses == [200, 404]

    log = project_log.getvalue()
    assert_no_token_in(log, [confirm])
    assert f'"GET /pledges/confirm/{REDACTED}/ HTTP/1.1" 200' in log
    assert f'"GET /pledges/confirm/{REDACTED}/garbage/ HTTP/1.1" 404' in log


def test_a_celery_worker_keeps_its_own_log_handlers_and_they_redact_tokens() -> None:
    token = make_token(purpose=CONFIRM_PURPOSE, value="AbCdEf123456")
    script = (
        "import django, logging; django.setup()\n"
        "from celery.utils.log import get_task_logger\n"
        "from changeday.celery import app\n"
        # What `celery worker` does at start: replace the root logger's handlers with Celery's own.
        "app.log.setup(loglevel='INFO', redirect_stdouts=True)\n"
        f"logging.getLogger('celery.worker').warning('Not Found: /pledges/confirm/{token}/')\n"
        f"get_task_logger('pledges.tasks').warning('sending /your-data/{token}/')\n"
        f"print('stdout /reminders/unsubscribe/{token}/')\n"
    )
    env = processes.django_env()
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    log = result.stdout + result.stderr
    assert_no_token_in(log, [token])
    for line in (
        f"/pledges/confirm/{REDACTED}/",
        f"/your-data/{REDACTED}/",
        f"/reminders/unsubscribe/{REDACTED}/",
    ):
        assert line in log, log


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only("the server process needs a database it can share")
def test_gunicorn_with_the_shipped_configuration_keeps_tokens_out_of_its_access_log(
    pledge: Pledge, organiser: Any, tmp_path: Path
) -> None:
    confirm = make_token(purpose=CONFIRM_PURPOSE, value=pledge.public_id)
    data = make_token(purpose=DATA_PURPOSE, value=pledge.public_id)
    reset = default_token_generator.make_token(organiser)
    uid = urlsafe_base64_encode(force_bytes(organiser.pk))
    env = processes.django_env(DATABASE_URL=processes.database_url(), CHANGEDAY_VAR_DIR=str(tmp_path / "var"))
    port = processes.free_port()
    web = processes.gunicorn(env=env, log=tmp_path / "gunicorn.log", port=port, access_log=True)
    base = f"http://127.0.0.1:{port}"
    try:
        statuses = [
            _status(f"{base}/pledges/confirm/{confirm}/"),
            _status(f"{base}/pledges/confirm/{confirm}/garbage/"),
            _status(f"{base}/pledges/confirm/{tampered(confirm)}/"),
            _status(f"{base}/accounts/reset/{uid}/{reset}/"),
            # The page's stylesheet, asked for with the confirm page as the referrer.
            _status(f"{base}/static/css/changeday.css", referer=f"{base}/your-data/{data}/"),
        ]
    finally:
        web.stop()
    assert statuses[:4] == [200, 404, 400, 302]

    log = web.output()
    assert_no_token_in(log, [confirm, tampered(confirm), data, reset])
    assert f'"GET /pledges/confirm/{REDACTED}/ HTTP/1.1" 200' in log
    assert f'"GET /accounts/reset/{REDACTED}/{REDACTED}/ HTTP/1.1" 302' in log
    assert f'"{base}/your-data/{REDACTED}/"' in log


def _status(url: str, *, referer: str = "") -> int:
    request = urllib.request.Request(url, headers={"Referer": referer} if referer else {})
    opener = urllib.request.build_opener(_NoRedirects())
    try:
        with opener.open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None
