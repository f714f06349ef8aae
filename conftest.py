"""Fixtures shared by every app's tests: campaigns, people, a real SMTP server
on loopback and a real Celery worker on the configured broker."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone
from hypothesis import settings as hypothesis_settings

from campaigns.models import Campaign, ModerationMode
from campaigns.services import campaign_create
from testsupport.browser import chromium_missing, chromium_running
from testsupport.mail import Inbox, inbox_running

# Property tests (hypothesis, schemathesis): modest example counts keep the suite
# fast; no deadline, since a request to PostgreSQL varies with the machine's load;
# derandomized so CI fails the same way each run. HYPOTHESIS_PROFILE=thorough
# searches harder when run by hand.
hypothesis_settings.register_profile("changeday", max_examples=60, deadline=None, derandomize=True)
hypothesis_settings.register_profile("thorough", max_examples=1000, deadline=None)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "changeday"))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under `make test` (and so in CI) the first pass must run on PostgreSQL and
    Redis: a run that quietly fell back to SQLite or no Redis is a failure. The
    second pass (CHANGEDAY_SQLITE_PASS=1) must run on the embedded default `make run`
    uses, SQLite without Redis, so each write's SQLite path is exercised too."""
    if os.environ.get("CHANGEDAY_SQLITE_PASS") == "1":
        engine = settings.DATABASES["default"]["ENGINE"]
        if engine != "django.db.backends.sqlite3" or settings.REDIS_URL:
            pytest.exit(
                f"CHANGEDAY_SQLITE_PASS=1 but the run is on {engine} with REDIS_URL set", returncode=3
            )
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test marked postgres_only or redis (services and faults: both) skips, saying why, on a run
    without that service, such as plain `pytest` on SQLite; make test's SQLite pass leaves them out."""
    on_postgres = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    needs = {
        "postgres_only": ("PostgreSQL", on_postgres),
        "redis": ("Redis", bool(settings.REDIS_URL)),
        "services": ("PostgreSQL and Redis", on_postgres and bool(settings.REDIS_URL)),
        "faults": ("PostgreSQL and Redis", on_postgres and bool(settings.REDIS_URL)),
    }
    for item in items:
        for name, (service, available) in needs.items():
            marker = item.get_closest_marker(name)
            if marker and not available:
                why = f": {marker.args[0]}" if marker.args else ""
                item.add_marker(pytest.mark.skip(reason=f"needs {service}{why}"))
                break


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
                for pattern in ("*ratelimit:*", "*page:*", "*wall-search-common:*", "*org-suggest:*")
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


@pytest.fixture
def smtp_inbox(settings: Any, request: pytest.FixtureRequest) -> Iterator[Inbox]:
    """A real SMTP server on loopback; the app sends to it over SMTP. Offering
    PIPELINING when a test asks for it (either_smtp_way)."""
    with inbox_running(pipelining=getattr(request, "param", False)) as (inbox, port):
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = port
        settings.EMAIL_USE_TLS = False
        yield inbox


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


@pytest.fixture
def chromium(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A headless Debian chromium driven by Playwright (make test installs it)."""
    missing = chromium_missing()
    if missing:
        if os.environ.get("CHANGEDAY_REQUIRE_SERVICES") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the
    # tests make between browser steps are still plain synchronous calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with chromium_running() as browser:
        yield browser


@pytest.fixture
def live_site(live_server: Any, settings: Any) -> str:
    """The live server's base URL, with links in emails pointing at it; cookies
    without the Secure flag, since the live server speaks plain HTTP."""
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False
    settings.SITE_URL = live_server.url
    return live_server.url
