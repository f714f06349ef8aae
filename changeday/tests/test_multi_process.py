"""Two web nodes and two Celery workers, as separate processes on one PostgreSQL
and one Redis, behave as one site.

Two gunicorns (production settings, a read replica configured that is the same
database) sit on two loopback ports as two nodes behind a load balancer would;
two `celery worker` processes share the broker and send to an SMTP sink on
loopback. A person's browser (cookies, CSRF token, no redirects followed) goes
to either node: sessions, rate limits, pledges, counters and reminders must
come out exactly as on one machine.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.request import urlopen

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from campaigns.models import ModerationMode
from conftest import create_pledge
from moderation.models import Action, ModerationEvent
from pages.share_cards import card_digest, card_for_pledge
from pledges.models import Pledge, Status
from pledges.selectors import campaign_totals
from pledges.services import campaign_recompute_totals
from reminders.models import DeliveryStatus, ReminderDelivery
from reminders.tasks import reminders_dispatch_task
from reminders.tests.helpers import reminder, signup
from testsupport import processes
from testsupport.processes import Browser

REPORTS_PER_HOUR = django_settings.RATE_LIMITS["report"][0]

pytestmark = [
    pytest.mark.services,
    pytest.mark.skipif(
        django_settings.DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql"
        or not django_settings.REDIS_URL,
        reason="two nodes share one PostgreSQL and one Redis (CI has both)",
    ),
]

PLEDGES = 40
SIGNUPS = 300
SUBMISSION = re.compile(r'name="submission_token" value="([^"]+)"')
CONFIRM_LINK = re.compile(r"/pledges/confirm/[^/\s\"<>]+/")


class Sink:
    """An SMTP server on loopback that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._lock:
            self.messages.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def received(self, *, reminders: bool) -> Counter[str]:
        """Recipients, counted once per message: reminders carry List-Unsubscribe."""
        with self._lock:
            return Counter(
                address
                for recipients, message in self.messages
                if (message["List-Unsubscribe"] is not None) == reminders
                for address in recipients
            )

    def confirmation_links(self) -> dict[str, str]:
        with self._lock:
            found = {}
            for recipients, message in self.messages:
                body = message.get_body(preferencelist=("plain",))
                match = CONFIRM_LINK.search(body.get_content() if body is not None else "")
                if match and message["List-Unsubscribe"] is None:
                    found[recipients[0]] = match[0]
            return found


@dataclass
class Cluster:
    nodes: list[str]
    workers: list[processes.AppProcess]
    sink: Sink
    # The nodes' MEDIA_ROOT: one directory, as a volume they share would be.
    media: Path

    def node(self, n: int) -> str:
        return self.nodes[n % len(self.nodes)]


@pytest.fixture(scope="module")
def cluster(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    from changeday.celery import app

    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=processes.free_port())
    smtp.start()
    database_url = processes.database_url()
    logs = tmp_path_factory.mktemp("cluster")
    env = processes.django_env(
        DATABASE_URL=database_url,
        # A replica that is the primary itself: the nodes route through it as
        # production would, and every answer must still be exact.
        DATABASE_REPLICA_URL=database_url,
        REDIS_URL=django_settings.REDIS_URL,
        # One key for every node: sessions, CSRF and rate-limit hashes depend on it.
        DJANGO_SECRET_KEY=django_settings.SECRET_KEY,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp.port),
        REMINDER_SEND_RATE="0",
        CHANGEDAY_VAR_DIR=str(logs / "var"),
    )
    app.control.purge()
    ports = [processes.free_port(), processes.free_port()]
    # Started side by side: on two cores, four start-ups one after another
    # would take most of the test's time.
    with ThreadPoolExecutor(4) as pool:
        webs = [
            pool.submit(processes.gunicorn, env=env, log=logs / f"web-{n}.log", port=port)
            for n, port in enumerate(ports)
        ]
        workers = [
            pool.submit(processes.celery_worker, env=env, log=logs / f"worker-{n}.log", name=f"worker{n}")
            for n in range(2)
        ]
        started = [future.result() for future in webs + workers]
    try:
        yield Cluster(
            nodes=[f"http://127.0.0.1:{port}" for port in ports],
            workers=started[2:],
            sink=sink,
            media=logs / "var" / "media",
        )
    finally:
        for process in started:
            process.stop()
        smtp.stop()


def _log_in(browser: Browser, node: str) -> None:
    status, _ = browser.form_post(
        f"{node}/accounts/login/",
        f"{node}/accounts/login/",
        {"username": "organiser@example.org", "password": "pw-organiser-1"},
    )
    assert status == 302, "the organiser could not log in"


def _wait_for(check: Any, *, timeout: float, what: str) -> None:
    processes.wait_until(check, timeout=timeout, what=what, interval=0.2)


@pytest.mark.django_db(transaction=True)
def test_a_session_and_a_rate_limit_started_on_one_node_hold_on_the_other(
    cluster: Cluster, organiser: Any, campaign: Any
) -> None:
    a, b = cluster.nodes
    browser = Browser()
    _log_in(browser, a)
    # Logged in on one node, the moderation queue opens on the other.
    status, _ = browser.get(f"{b}/moderation/")
    assert status == 200, "the session made on one node was unknown to the other"
    assert Session.objects.count() == 1

    # Logged out on the second node, the first one knows at once.
    status, _ = browser.form_post(f"{b}/moderation/", f"{b}/accounts/logout/", {})
    assert status == 302
    status, _ = browser.get(f"{a}/moderation/")
    assert status == 302, "a session ended on one node still worked on the other"

    # One visitor reporting through both nodes in turn meets one limit, not one per node.
    pledge = create_pledge(campaign, 1)
    visitor = Browser()
    statuses = [
        visitor.form_post(
            f"{cluster.node(n)}/pledges/{pledge.public_id}/",
            f"{cluster.node(n + 1)}/pledges/{pledge.public_id}/report/",
            {"reason": "spam"},
        )[0]
        for n in range(REPORTS_PER_HOUR + 1)
    ]
    assert statuses == [302] * REPORTS_PER_HOUR + [429]


def _submit(cluster: Cluster, campaign_slug: str, n: int) -> str:
    """A pledge made through the real form: the page from one node, the post
    to the other; every third person double-clicks and posts it twice."""
    email = f"pledger{n:03}@example.org"
    browser = Browser()
    form_url = f"{cluster.node(n)}/campaigns/{campaign_slug}/pledge/"
    status, page = browser.get(form_url)
    assert status == 200
    data = {
        "text": f"ask every patient on ward {n} what matters to them today",
        "display_name": f"Pledger {n}",
        "role": "Healthcare assistant",
        "organisation": "",
        "region": "london",
        "kind": "personal",
        "sectors": ["nhs", "social-care"] if n % 3 == 0 else ["housing"],
        "email": email,
        "consent_to_publish": "on",
        "submission_token": SUBMISSION.search(page)[1],  # type: ignore[index]
        "csrfmiddlewaretoken": processes.csrf_token(page, where=form_url),
    }
    if n % 2 == 0:
        data["wants_reminders"] = "on"
    posts = 2 if n % 3 == 0 else 1
    for attempt in range(posts):
        status, body = browser.post(
            f"{cluster.node(n + 1 + attempt)}/campaigns/{campaign_slug}/pledge/", data
        )
        assert status == 302, body[-2000:]
    return email


def _confirm(cluster: Cluster, path: str, n: int) -> None:
    status, _ = Browser().form_post(f"{cluster.node(n)}{path}", f"{cluster.node(n + 1)}{path}", {})
    assert status == 302


def _decide(browser: Browser, node: str, action: str, selection: dict[str, str], **extra: str) -> None:
    status, page = browser.form_post(
        f"{node}/moderation/?campaign=multi-day",
        f"{node}/moderation/decide/",
        {
            "action": action,
            "pledge": [f"{public_id}:{seen}" for public_id, seen in selection.items()],
            "return_to": "campaign=multi-day",
            **extra,
        },
    )
    assert status == 302, page[-3000:]


def _decide_at_once(
    browsers: list[Browser], nodes: list[str], action: str, selection: dict[str, str]
) -> None:
    """Each organiser (browser) makes the same decision at their own node at the same moment."""
    with ThreadPoolExecutor(len(browsers)) as pool:
        done = [
            pool.submit(_decide, browser, node, action, selection)
            for browser, node in zip(browsers, nodes, strict=True)
        ]
        for future in done:
            future.result()


@pytest.mark.django_db(transaction=True)
def test_two_nodes_and_two_workers_keep_pledges_counters_and_reminders_exact(
    cluster: Cluster, organiser: Any, make_campaign: Any, settings: Any
) -> None:
    now = timezone.now()
    # Pre-moderated, so organisers publish through both nodes; the deadline is
    # three days away, so a "7 days before the deadline" reminder is due now.
    campaign = make_campaign(
        name="Multi-node day",
        slug="multi-day",
        moderation_mode=ModerationMode.PRE,
        change_day=(now + timedelta(days=1)).date(),
        deadline=now + timedelta(days=3),
    )
    slug = campaign.slug

    # 1. Pledges through the real form, eight people at a time, at both nodes.
    with ThreadPoolExecutor(8) as pool:
        emails = list(pool.map(lambda n: _submit(cluster, slug, n), range(PLEDGES)))
    stored = Counter(Pledge.objects.filter(campaign=campaign).values_list("email", flat=True))
    assert stored == Counter(emails), "a pledge was lost or stored twice"

    # 2. The two workers send one confirmation email per pledge.
    _wait_for(lambda: len(cluster.sink.confirmation_links()) >= PLEDGES, timeout=60, what="confirmations")
    assert cluster.sink.received(reminders=False) == Counter(emails)
    links = cluster.sink.confirmation_links()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: _confirm(cluster, item[1], item[0]), enumerate(links.values())))
    assert Pledge.objects.filter(campaign=campaign, status=Status.PENDING).count() == PLEDGES

    # 3. Two organisers at two nodes publish the whole queue at the same moment,
    # then hide, restore and reject through both.
    ids = list(Pledge.objects.filter(campaign=campaign).order_by("id").values_list("public_id", flat=True))
    first, second = Browser(), Browser()
    _log_in(first, cluster.nodes[0])
    _log_in(second, cluster.nodes[1])
    everyone = dict.fromkeys(ids, Status.PENDING)
    _decide_at_once([first, second], cluster.nodes, "publish", everyone)
    hidden = dict.fromkeys(ids[:8], Status.PUBLISHED)
    _decide_at_once([first, second], cluster.nodes, "hide", hidden)
    _decide(second, cluster.nodes[1], "restore", dict.fromkeys(ids[:3], Status.HIDDEN))
    _decide(first, cluster.nodes[0], "reject", {ids[-1]: Status.PUBLISHED}, reason_code="spam")

    decisions = Counter(
        ModerationEvent.objects.filter(pledge__campaign=campaign).values_list("action", flat=True)
    )
    assert decisions[Action.PUBLISH] == PLEDGES, "a pledge was published twice or not at all"
    assert (decisions[Action.HIDE], decisions[Action.RESTORE], decisions[Action.REJECT]) == (8, 3, 1)
    published = set(
        Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED).values_list("public_id", flat=True)
    )
    assert len(published) == PLEDGES - 8 + 3 - 1

    # 4. Counters equal a fresh count, and both nodes show the same wall and total.
    assert campaign_recompute_totals(campaign=campaign) == {}, "the live counters drifted"
    assert campaign_totals(campaign=campaign).total == len(published)
    for node in cluster.nodes:
        status, body = Browser().get(f"{node}/api/v1/campaigns/{slug}/pledges?limit=100")
        assert status == 200
        assert {row["public_id"] for row in json.loads(body)["results"]} == published

        def shows_total(node: str = node) -> bool:
            return (
                f'"total":{len(published)},' in Browser().get(f"{node}/api/v1/campaigns/{slug}/counters")[1]
            )

        _wait_for(shows_total, timeout=10, what=f"the counters at {node}")

    # 5. A reminder run: sign-ups plus published pledgers who asked, each once.
    for n in range(SIGNUPS):
        signup(campaign, f"signup{n:04}@example.org")
    expected = {f"signup{n:04}@example.org" for n in range(SIGNUPS)} | set(
        Pledge.objects.filter(campaign=campaign, status=Status.PUBLISHED, wants_reminders=True).values_list(
            "email", flat=True
        )
    )
    assert len(expected) > SIGNUPS, "no published pledger asked for reminders"
    reminder(campaign, days_before=7)
    settings.REMINDER_BATCH_SIZE = 20
    reminders_dispatch_task()
    _wait_for(
        lambda: sum(cluster.sink.received(reminders=True).values()) >= len(expected),
        timeout=90,
        what="the reminders",
    )
    time.sleep(1.5)  # a second copy still in flight would arrive now
    reminders_dispatch_task()  # beat's next pass finds nothing left to send
    time.sleep(1.5)
    delivered = cluster.sink.received(reminders=True)
    assert set(delivered) == expected
    assert [address for address, times in delivered.items() if times > 1] == []
    assert ReminderDelivery.objects.filter(status=DeliveryStatus.SENT).count() == len(expected)
    # Both workers took part in the run.
    for worker in cluster.workers:
        assert "reminder_send_batch_task" in worker.output(), f"{worker.log.name} sent no reminders"


@pytest.mark.django_db(transaction=True)
def test_a_share_image_asked_of_both_nodes_at_once_is_kept_once_and_served_alike(
    cluster: Cluster, campaign: Any
) -> None:
    pledge = create_pledge(campaign, 1)
    digest = card_digest(card_for_pledge(pledge))
    path = f"/pledges/{pledge.public_id}/share-{digest}.png"

    def fetch(n: int) -> tuple[int, str, bytes]:
        with urlopen(f"{cluster.node(n)}{path}", timeout=60) as response:
            return response.status, response.headers["Cache-Control"], response.read()

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(fetch, range(8)))

    assert {status for status, _, _ in answers} == {200}
    assert {cache for _, cache, _ in answers} == {"public, max-age=31536000, immutable"}
    assert len({body for _, _, body in answers}) == 1, "the nodes served different drawings"
    kept = sorted(path.relative_to(cluster.media) for path in cluster.media.rglob("*.png"))
    assert kept == [Path(f"share-images/pledge/{pledge.public_id}/{digest}.png")]
    assert (cluster.media / kept[0]).read_bytes() == answers[0][2]
