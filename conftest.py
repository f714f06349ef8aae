"""Fixtures shared by every app's tests: campaigns, people, a real SMTP server
on loopback and a real Celery worker on the configured broker."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.utils import timezone
from hypothesis import settings as hypothesis_settings

from campaigns.models import Campaign, ModerationMode
from campaigns.services import campaign_create
from changeday.lib.testservices import free_port

# Property tests (hypothesis, schemathesis): modest example counts keep the suite
# fast; no deadline, since a request to PostgreSQL varies with the machine's load;
# derandomized so CI fails the same way each run. HYPOTHESIS_PROFILE=thorough
# searches harder when run by hand.
hypothesis_settings.register_profile("changeday", max_examples=60, deadline=None, derandomize=True)
hypothesis_settings.register_profile("thorough", max_examples=1000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "changeday"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `make test` (and so in CI) the suite must run on PostgreSQL and
    Redis: a run that quietly fell back to SQLite or no Redis is a failure."""
    if os.environ.get("CHANGEDAY_REQUIRE_SERVICES") != "1":
        return
    engine = settings.DATABASES["default"]["ENGINE"]
    if engine != "django.db.backends.postgresql":
        pytest.exit(f"CHANGEDAY_REQUIRE_SERVICES=1 but the database engine is {engine}", returncode=3)
    if not settings.REDIS_URL or not settings.CELERY_BROKER_URL.startswith("redis"):
        pytest.exit("CHANGEDAY_REQUIRE_SERVICES=1 but REDIS_URL is not set", returncode=3)
    import redis

    try:
        redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.exit(f"CHANGEDAY_REQUIRE_SERVICES=1 but Redis does not answer: {exc}", returncode=3)


@pytest.fixture(autouse=True)
def _outbox_published_before_the_next_test() -> Iterator[None]:
    """Web processes publish owed emails a moment after the request (outbox.publisher); a test's
    own must not land in the next test's broker queue."""
    from outbox.publisher import publisher

    yield
    publisher.flush()


@pytest.fixture(autouse=True)
def _fresh_rate_limits() -> Iterator[None]:
    """Rate-limit windows last an hour in a cache that outlives a test: start each test with none.
    Shared pages too: the next test's campaign has the same address and other pledges, and so
    does what this process remembers of campaigns and counters."""
    from django.core.cache import cache

    from campaigns.selectors import campaign_memo_forget
    from pledges.api import counters_memo_forget

    def clear() -> None:
        campaign_memo_forget()
        counters_memo_forget()
        if settings.REDIS_URL:
            import redis

            client = redis.Redis.from_url(settings.REDIS_URL)
            keys = [
                key
                for pattern in ("*ratelimit:*", "*page:*", "*wall-search-common:*")
                for key in client.scan_iter(match=pattern)
            ]
            if keys:
                client.delete(*keys)
        else:
            cache.clear()

    clear()
    yield
    clear()


def _campaign(**overrides: Any) -> Campaign:
    now = timezone.now()
    values: dict[str, Any] = {
        "name": "Change Day 2027",
        "slug": "change-day-2027",
        "hashtag": "ChangeDay",
        "description": "One small promise each, for health and care.",
        "opens_at": now - timedelta(days=1),
        "change_day": (now + timedelta(days=30)).date(),
        "deadline": now + timedelta(days=60),
        "target": 500_000,
        "moderation_mode": ModerationMode.POST,
    }
    values.update(overrides)
    return campaign_create(**values)


def create_pledge(campaign: Campaign, n: int = 1, *, confirm: bool = True, **overrides: Any) -> Any:
    """A pledge made through the services, as the form and the email link make it.

    Confirmed by default (published on a post-moderation campaign); the
    confirmation email is not queued, since these addresses are made up."""
    from pledges.services import pledge_confirm, pledge_create

    values: dict[str, Any] = {
        "text": f"share one thing I learnt this week with my team, number {n}",
        "display_name": f"Person {n}",
        "is_anonymous": False,
        "role": "Occupational therapist",
        "organisation": "",
        "region": "london",
        "kind": "personal",
        "sectors": ["nhs"],
        "email": f"person{n}@example.org",
        "consent_to_publish": True,
        "wants_reminders": False,
        "submission_token": uuid.uuid4(),
        "send_confirmation": False,
    }
    values.update(overrides)
    pledge = pledge_create(campaign=campaign, **values).pledge
    return pledge_confirm(pledge=pledge) if confirm else pledge


@pytest.fixture
def make_campaign(db: None) -> Any:
    return _campaign


@pytest.fixture
def campaign(db: None) -> Campaign:
    return _campaign()


@pytest.fixture
def pre_campaign(db: None) -> Campaign:
    return _campaign(name="Pre-moderated day", slug="pre-day", moderation_mode=ModerationMode.PRE)


@pytest.fixture
def pledge_data() -> dict[str, Any]:
    """What a person types into the pledge form, as the browser sends it."""
    return {
        "text": "listen to every carer on my ward before the end of each shift",
        "display_name": "Sam Patel",
        "role": "Staff nurse",
        "organisation": "Leeds Teaching Hospitals",
        "region": "north-east-and-yorkshire",
        "kind": "personal",
        "sectors": ["nhs", "social-care"],
        "email": "sam.patel@example.org",
        "consent_to_publish": "on",
        "wants_reminders": "on",
        "submission_token": str(uuid.uuid4()),
    }


@pytest.fixture
def organiser(db: None, django_user_model: Any) -> Any:
    from campaigns.services import organiser_group_ensure

    user = django_user_model.objects.create_user(
        username="organiser@example.org",
        email="organiser@example.org",
        password="pw-organiser-1",
        is_staff=True,
    )
    user.groups.add(organiser_group_ensure())
    return user


@pytest.fixture
def stranger(db: None, django_user_model: Any) -> Any:
    return django_user_model.objects.create_user(
        username="stranger@example.org", email="stranger@example.org", password="pw-stranger-1"
    )


class _Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()
        # Address -> SMTP reply, to play a mail server refusing a recipient
        # ("451 4.3.0 Try again later", "550 5.1.1 No such mailbox").
        self.refuse: dict[str, str] = {}
        # The same, for the address's next RCPT only: a server busy for a moment.
        self.refuse_once: dict[str, str] = {}
        # The client's (host, port) of each message: one port per SMTP connection.
        self.peers: list[Any] = []
        # Offer PIPELINING (RFC 2920), as large mail providers do; for each RCPT, whether the
        # client's DATA had already arrived with it, i.e. the envelope came in one write.
        self.pipelining = False
        self.data_arrived_with_rcpt: list[bool] = []

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        # asyncio keeps what has arrived and not yet been read in the reader's buffer.
        self.data_arrived_with_rcpt.append(b"data\r\n" in bytes(server._reader._buffer).lower())
        if address in self.refuse:
            return self.refuse[address]
        if address in self.refuse_once:
            return self.refuse_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.peers.append(session.peer)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 20.0) -> list[EmailMessage]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        return list(self.messages)


@pytest.fixture
def smtp_inbox(settings: Any, request: pytest.FixtureRequest) -> Iterator[_Inbox]:
    """A real SMTP server on loopback; the app sends to it over SMTP. Offering
    PIPELINING when a test asks for it (either_smtp_way)."""
    inbox = _Inbox()
    inbox.pipelining = getattr(request, "param", False)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = controller.port
    settings.EMAIL_USE_TLS = False
    try:
        yield inbox
    finally:
        controller.stop()


class WorkerKilled(BaseException):
    """Raised where a test kills a worker mid-send: a BaseException, so no
    handler of the code under test records anything, as after a real kill."""


# Runs a test against smtp_inbox twice: without PIPELINING, then offering it.
either_smtp_way = pytest.mark.parametrize(
    "smtp_inbox", [False, True], indirect=True, ids=["one-command-at-a-time", "pipelining"]
)


def use_broker(url: str) -> None:
    """Point this process's Celery producers at another broker (a dead port, a test's own Redis)."""
    from celery import Celery
    from django.conf import settings

    from changeday.celery import app

    # The app's connection and producer pools keep connections to the URL they were made for
    # and no public call points them elsewhere, so tasks are sent through a fresh app (the
    # shared tasks bind to it, and their proxies follow the current app); the project's own
    # app comes back for its own URL.
    sender = app
    if url != settings.CELERY_BROKER_URL:
        sender = Celery(app.main, set_as_current=False)
        sender.config_from_object("django.conf:settings", namespace="CELERY")
        sender.conf.broker_url = url
    sender.set_default()
    sender.set_current()


@pytest.fixture
def celery_worker(transactional_db: None) -> Iterator[Any]:
    """A real Celery worker, in a thread, consuming from the configured broker."""
    from celery.contrib.testing.worker import start_worker

    from changeday.celery import app

    app.control.purge()
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10) as worker:
        yield worker


def email_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def email_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()


CHROMIUM = "/usr/bin/chromium"
# Debian's chromium, headless; without the background-networking flags it keeps
# trying to reach Google's hosts, which this machine's closed network refuses.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright (make test installs it)."""
    import shutil

    if not shutil.which(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium package (make test does)."
        if os.environ.get("CHANGEDAY_REQUIRE_SERVICES") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


# Browser-test helpers: accessibility checks with axe-core (pinned in package.json,
# read from node_modules, never a CDN) and screenshots kept as test artifacts.
AXE_SCRIPT = Path(settings.BASE_DIR) / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "var" / "test-artifacts" / "screenshots"
# What blocks people: axe's "serious" and "critical" findings fail a test.
BLOCKING_IMPACTS = ("serious", "critical")


@pytest.fixture
def live_site(live_server: Any, settings: Any) -> str:
    """The live server's base URL, with links in emails pointing at it; cookies
    without the Secure flag, since the live server speaks plain HTTP."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SITE_URL = live_server.url
    return live_server.url


def browser_log_in(context: Any, user: Any, base_url: str) -> None:
    """Sign `user` in to a Playwright browser context without the login form,
    with the session cookie of a test client that force_login signed in."""
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    context.add_cookies([{"name": settings.SESSION_COOKIE_NAME, "value": cookie, "url": base_url}])


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_violations(page: Any) -> list[str]:
    """The page's serious and critical axe findings, one readable line per element.

    The page's context needs bypass_csp=True: axe is injected as a script the
    site's Content-Security-Policy would rightly refuse."""
    if not page.evaluate("() => Boolean(window.axe)"):
        page.add_script_tag(path=str(AXE_SCRIPT))
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    lines = []
    for violation in violations:
        if violation["impact"] not in BLOCKING_IMPACTS:
            continue
        for node in violation["nodes"]:
            summary = " ".join(node.get("failureSummary", "").split())
            lines.append(
                f"{violation['impact']} {violation['id']} ({violation['help']}) at {node['target']}: "
                f"{node['html'][:160]} | {summary}"
            )
    return lines
