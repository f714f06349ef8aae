"""Faults with real services: Redis down, PostgreSQL restarted, a worker killed.

Each test starts its own Redis, PostgreSQL cluster or app process
(changeday/lib/processes.py), breaks it, and prints and asserts what was
lost: nothing. The shared services on 5432 and 6379 are never touched.
"""

from __future__ import annotations

import asyncio
import shutil
import signal
import tempfile
import time
import urllib.parse
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from django.conf import settings
from django.test import Client

from campaigns.models import Campaign
from conftest import create_pledge, use_broker
from outbox.models import OutboxEmail
from outbox.tasks import outbox_drain
from pledges import services
from pledges.models import Pledge, Status
from testsupport import processes
from testsupport.processes import Browser, PostgresCluster, RedisServer

pytestmark = [
    pytest.mark.faults,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis") or shutil.which("redis-server") is None,
        reason="needs PostgreSQL, the Redis broker and redis-server (make test has them)",
    ),
]


# --- helpers ------------------------------------------------------------------------


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.process.send_signal(signal.SIGCONT)
        server.stop()


@pytest.fixture
def app_on_own_redis(own_redis: RedisServer, settings: Any) -> Iterator[RedisServer]:
    """This process's cache and broker on the test's own Redis."""
    settings.CACHES = {
        "default": {
            **settings.CACHES["default"],
            "BACKEND": "changeday.lib.cache.ResilientRedisCache",
            "LOCATION": own_redis.url(0),
        }
    }
    use_broker(own_redis.url(0))
    try:
        yield own_redis
    finally:
        use_broker(settings.CELERY_BROKER_URL)


def _worker_env(redis: RedisServer, inbox_port: int, var_dir: Path, **extra: str) -> dict[str, str]:
    return processes.django_env(
        DATABASE_URL=processes.database_url(),
        REDIS_URL=redis.url(0),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(inbox_port),
        CHANGEDAY_VAR_DIR=str(var_dir),
        **extra,
    )


def _form(pledge_data: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        **pledge_data,
        "text": f"{pledge_data['text']}, fault test promise {n}",
        "email": f"fault-{n}@example.org",
        "submission_token": str(uuid.uuid4()),
    }


def _drain_until(inbox: Any, expected: int, *, timeout: float = 60.0) -> None:
    """Ask the worker to drain the outbox (what beat does every minute) until
    every owed email has arrived, then wait long enough for a duplicate to show."""
    deadline = time.monotonic() + timeout
    while len(inbox.messages) < expected and time.monotonic() < deadline:
        outbox_drain.delay(older_than_seconds=0)
        inbox.wait_for(expected, timeout=2)
    time.sleep(2)


def _report(name: str, **lost: int) -> None:
    print(f"\n[{name}] lost: " + ", ".join(f"{what} {n}" for what, n in lost.items()))
    assert not any(lost.values()), f"{name} lost {lost}"


# --- 1. Redis down -------------------------------------------------------------------


def test_with_redis_down_pledges_are_stored_pages_show_database_counts_and_the_emails_go_once_it_is_back(
    campaign: Campaign,
    pledge_data: dict[str, Any],
    smtp_inbox: Any,
    app_on_own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    redis = app_on_own_redis
    visitor = Client()
    create_pledge(campaign, 1)
    assert visitor.get(f"/campaigns/{campaign.slug}/").status_code == 200  # the cache is warm

    redis.stop()
    slowest = 0.0
    for n in range(3):
        started = time.monotonic()
        response = Client().post(f"/campaigns/{campaign.slug}/pledge/", _form(pledge_data, n))
        slowest = max(slowest, time.monotonic() - started)
        assert response.status_code == 302 and response["Location"].endswith("/pledge/sent/")
    stored = list(Pledge.objects.filter(email__startswith="fault-").order_by("email"))
    assert len(stored) == 3
    # One of them is confirmed while Redis is still down: the totals move with it.
    confirm = urllib.parse.urlsplit(services.pledge_confirmation_url(pledge=stored[0])).path
    assert Client().post(confirm).status_code == 302
    published = Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).count()
    assert published == 2

    pages = {
        "campaign": visitor.get(f"/campaigns/{campaign.slug}/"),
        "wall": visitor.get(f"/campaigns/{campaign.slug}/wall/"),
        "counters": visitor.get(f"/api/v1/campaigns/{campaign.slug}/counters"),
        "stats": visitor.get(f"/campaigns/{campaign.slug}/stats/"),
    }
    assert {name: page.status_code for name, page in pages.items()} == dict.fromkeys(pages, 200)
    assert pages["counters"].json()["total"] == published
    assert f'data-counter="total">{published}<' in pages["campaign"].content.decode()
    assert stored[0].text in pages["wall"].content.decode()
    assert smtp_inbox.messages == []

    redis.start()
    use_broker(redis.url(0))  # drop the producer connections that died with it
    worker = processes.celery_worker(
        env=_worker_env(redis, settings.EMAIL_PORT, tmp_path / "var"), log=tmp_path / "worker.log", name="w1"
    )
    try:
        _drain_until(smtp_inbox, 3)
    finally:
        worker.stop()

    sent_to = Counter(message["To"] for message in smtp_inbox.messages)
    print(f"\nslowest submission with Redis down: {slowest:.2f}s; emails after: {dict(sent_to)}")
    assert slowest < 5
    _report(
        "redis down",
        pledges=3 - Pledge.objects.filter(email__startswith="fault-").count(),
        emails=3 - len(sent_to),
        duplicate_emails=sum(n - 1 for n in sent_to.values()),
        unsent_rows=OutboxEmail.objects.filter(sent_at__isnull=True).count(),
    )


def test_a_redis_that_hangs_costs_the_pages_one_timeout_not_one_per_request(
    campaign: Campaign, app_on_own_redis: RedisServer
) -> None:
    create_pledge(campaign, 1)
    redis = app_on_own_redis
    assert redis.process is not None
    redis.process.send_signal(signal.SIGSTOP)  # accepts connections, never answers
    try:
        started = time.monotonic()
        statuses = [
            Client().get(path).status_code
            for _ in range(10)
            for path in (f"/campaigns/{campaign.slug}/", f"/api/v1/campaigns/{campaign.slug}/counters")
        ]
        elapsed = time.monotonic() - started
    finally:
        redis.process.send_signal(signal.SIGCONT)
    print(f"\n20 requests against a hung Redis took {elapsed:.2f}s")
    assert statuses == [200] * 20
    # Without the pause after a failure each request would wait out two
    # one-second timeouts (a get and a set): 40 s.
    assert elapsed < 6


# --- 2. PostgreSQL restarted ---------------------------------------------------------------


def _pledge(browser: Browser, slug: str, form: dict[str, Any]) -> int:
    """The answer to a pledge through the form; a form page that fails is that answer."""
    url = f"/campaigns/{slug}/pledge/"
    status, page = browser.get(url)
    if status != 200:
        return status
    return browser.post(url, {**form, "csrfmiddlewaretoken": processes.csrf_token(page, where=url)})[0]


@pytest.fixture
def own_postgres() -> Iterator[PostgresCluster]:
    # Not pytest's tmp_path: the postgres user must be able to reach the directory.
    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="changeday-pg-")))
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)


MAKE_CAMPAIGN = """
from datetime import timedelta
from django.utils import timezone
from campaigns.services import campaign_create
now = timezone.now()
campaign_create(name="Restart day", slug="restart-day", hashtag="Restart", description="A restart.",
    opens_at=now - timedelta(days=1), change_day=(now + timedelta(days=30)).date(),
    deadline=now + timedelta(days=60), target=1000, moderation_mode="post")
"""


def test_a_postgresql_restart_is_survived_by_the_running_app_without_losing_a_pledge(
    own_postgres: PostgresCluster, pledge_data: dict[str, Any], tmp_path: Path
) -> None:
    with psycopg.connect(own_postgres.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE changeday")
    env = processes.django_env(
        DATABASE_URL=own_postgres.url("changeday"),
        # Persistent connections, as production keeps them: the restart kills
        # the one the web worker holds between requests.
        DB_CONN_MAX_AGE="600",
        CHANGEDAY_VAR_DIR=str(tmp_path / "var"),
    )
    # Cache and broker in-process and in files: this test is about the database.
    env.pop("REDIS_URL", None)
    processes.manage("migrate", "--noinput", env=env)
    processes.manage("shell", "-c", MAKE_CAMPAIGN, env=env)
    port = processes.free_port()
    web = processes.gunicorn(env=env, log=tmp_path / "gunicorn.log", port=port)
    browser = Browser(f"http://127.0.0.1:{port}", timeout=30)
    answers: list[tuple[str, int]] = []
    try:
        for n in range(3):
            answers.append((f"pledge {n}", _pledge(browser, "restart-day", _form(pledge_data, n))))
        answers.append(("counters", browser.get("/api/v1/campaigns/restart-day/counters")[0]))

        own_postgres.restart()

        answers.append(("campaign page", browser.get("/campaigns/restart-day/")[0]))
        for n in range(3, 6):
            answers.append((f"pledge {n}", _pledge(browser, "restart-day", _form(pledge_data, n))))
        answers.append(("counters", browser.get("/api/v1/campaigns/restart-day/counters")[0]))
    finally:
        web.stop()

    with psycopg.connect(own_postgres.url("changeday")) as db:
        stored = {row[0] for row in db.execute("SELECT email FROM pledges_pledge")}
    expected = {f"fault-{n}@example.org" for n in range(6)}
    print(f"\nanswers around the restart: {answers}")
    assert [status for what, status in answers if what.startswith("pledge")] == [302] * 6, web.output()[
        -3000:
    ]
    assert all(status == 200 for what, status in answers if not what.startswith("pledge")), answers
    _report("postgresql restart", pledges=len(expected - stored), failed_requests=0)


MAKE_PLEDGE = """
import uuid
from campaigns.models import Campaign
from pledges.services import pledge_create
pledge_create(campaign=Campaign.objects.get(slug="restart-day"), text="listen first, number NUMBER",
    display_name="Sam", is_anonymous=False, role="Nurse", organisation="", region="london", kind="personal",
    sectors=["nhs"], email="worker-NUMBER@example.org", consent_to_publish=True,
    wants_reminders=False, submission_token=uuid.uuid4())
"""


def test_a_worker_keeps_its_database_connection_and_survives_a_postgresql_restart_without_losing_an_email(
    own_postgres: PostgresCluster, holding_inbox: HoldingInbox, tmp_path: Path
) -> None:
    with psycopg.connect(own_postgres.url("postgres"), autocommit=True) as admin:
        admin.execute("CREATE DATABASE changeday")
    env = processes.django_env(
        DATABASE_URL=own_postgres.url("changeday"),
        DB_CONN_MAX_AGE="600",  # as production: the worker keeps its connection between tasks
        CHANGEDAY_VAR_DIR=str(tmp_path / "var"),
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(holding_inbox.port),  # type: ignore[attr-defined]
    )
    env.pop("REDIS_URL", None)  # a broker in files: this test is about the database
    processes.manage("migrate", "--noinput", env=env)
    processes.manage("shell", "-c", MAKE_CAMPAIGN, env=env)
    worker = processes.celery_worker(env=env, log=tmp_path / "celery.log", name="restart")

    def worker_backends() -> set[int]:
        with psycopg.connect(own_postgres.url("postgres")) as db:
            rows = db.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = 'changeday' AND backend_type = 'client backend'"
            )
            return {row[0] for row in rows}

    try:
        for n in (1, 2):
            processes.manage("shell", "-c", MAKE_PLEDGE.replace("NUMBER", str(n)), env=env)
            holding_inbox.wait_for(n, timeout=30)
            if n == 1:
                kept = worker_backends()
        assert worker_backends() == kept and len(kept) == 1, "the worker opened a new connection for a task"

        own_postgres.restart()  # kills the connection the worker holds

        processes.manage("shell", "-c", MAKE_PLEDGE.replace("NUMBER", "3"), env=env)
        # No beat runs here, so no drain: the task itself must get through.
        holding_inbox.wait_for(3, timeout=30)
    finally:
        worker.stop()

    assert sorted(m["To"] for m in holding_inbox.messages) == [
        f"worker-{n}@example.org" for n in (1, 2, 3)
    ], worker.output()[-3000:]
    with psycopg.connect(own_postgres.url("changeday")) as db:
        attempts = [row[0] for row in db.execute("SELECT attempts FROM outbox_outboxemail ORDER BY id")]
    assert attempts == [1, 1, 1]


# --- 3. A worker killed mid-send -------------------------------------------------------------


class HoldingInbox:
    """A real SMTP server that can keep a sender waiting before it takes the
    message, so a test can kill the worker in the middle of a send."""

    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.holding = False
        self.held = 0

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.holding:
            self.held += 1
            while self.holding:
                await asyncio.sleep(0.05)
            return "451 Try again later"  # the sender is dead by now
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.messages.append({"To": envelope.rcpt_tos[0]})
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.1)


@pytest.fixture
def holding_inbox() -> Iterator[HoldingInbox]:
    inbox = HoldingInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=processes.free_port())
    controller.start()
    inbox.port = controller.port  # type: ignore[attr-defined]
    try:
        yield inbox
    finally:
        inbox.holding = False
        controller.stop()


def test_a_worker_killed_mid_send_loses_no_email_and_sends_none_twice(
    campaign: Campaign,
    pledge_data: dict[str, Any],
    holding_inbox: HoldingInbox,
    app_on_own_redis: RedisServer,
    tmp_path: Path,
) -> None:
    redis = app_on_own_redis
    count = 6
    for n in range(count):
        response = Client().post(f"/campaigns/{campaign.slug}/pledge/", _form(pledge_data, n))
        assert response.status_code == 302
    # A short lock, so the drain takes the dead worker's email back within the test.
    env = _worker_env(redis, holding_inbox.port, tmp_path / "var", OUTBOX_LOCK_SECONDS="3")  # type: ignore[attr-defined]

    holding_inbox.holding = True
    first = processes.celery_worker(env=env, log=tmp_path / "worker-1.log", name="doomed")
    try:
        processes.wait_until(lambda: holding_inbox.held >= 1, timeout=30, what="a send in progress")
    finally:
        first.kill()
    # The dead worker's batch, claimed as one (each email's attempt counted) and none of it sent.
    in_flight = OutboxEmail.objects.filter(attempts=1, sent_at__isnull=True, locked_until__isnull=False)
    assert in_flight.exists(), "the worker was not in the middle of a send"
    assert holding_inbox.messages == []

    holding_inbox.holding = False
    second = processes.celery_worker(env=env, log=tmp_path / "worker-2.log", name="survivor")
    try:
        _drain_until(holding_inbox, count)
    finally:
        second.stop()

    sent_to = Counter(message["To"] for message in holding_inbox.messages)
    print(f"\nemails after the kill: {dict(sent_to)}")
    _report(
        "worker killed",
        emails=count - len(sent_to),
        duplicate_emails=sum(n - 1 for n in sent_to.values()),
        unsent_rows=OutboxEmail.objects.filter(sent_at__isnull=True).count(),
    )
    assert set(sent_to) == {f"fault-{n}@example.org" for n in range(count)}
