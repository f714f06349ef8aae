"""A pledge is never lost and its confirmation email always goes, once, even
when the broker or the worker is down at the moment of submission."""

from __future__ import annotations

import base64
import json
import logging
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.db import connection, transaction
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from changeday.celery import app
from conftest import create_pledge, either_smtp_way, use_broker
from moderation.models import Action
from moderation.services import pledge_moderate
from outbox import mailsession, services
from outbox.models import OutboxEmail
from outbox.publisher import OUTBOX_TASK_CHUNK
from outbox.services import OUTBOX_MAX_ATTEMPTS, outbox_send_many
from outbox.tasks import outbox_drain, send_outbox_email_task
from pledges.models import Pledge
from testsupport.processes import WorkerKilled, free_port

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.redis("the Celery broker"),
]


@contextmanager
def broker_down() -> Iterator[None]:
    """Producers in this process see the broker as down: a closed loopback port. The request
    publishes its own email, so it meets the dead broker before the broker comes back."""
    use_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        with override_settings(OUTBOX_PUBLISH_WINDOW_MS=0):
            yield
    finally:
        use_broker(settings.CELERY_BROKER_URL)


@contextmanager
def worker_running() -> Iterator[None]:
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10):
        yield


def _submit(campaign: Any, data: dict[str, Any]) -> Any:
    return Client().post(f"/campaigns/{campaign.slug}/pledge/", data)


def _settle(inbox: Any, expected: int) -> list[Any]:
    messages = inbox.wait_for(expected)
    time.sleep(1.5)  # long enough for a duplicate to arrive if one were sent
    return list(inbox.messages) or messages


def test_a_pledge_made_while_the_broker_is_down_is_stored_without_making_the_pledger_wait(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    with broker_down():
        started = time.monotonic()
        response = _submit(campaign, pledge_data)
        elapsed = time.monotonic() - started

    assert response.status_code == 302 and response["Location"].endswith("/pledge/sent/")
    assert elapsed < 10, f"the pledger waited {elapsed:.1f}s for a dead broker"
    pledge = Pledge.objects.get()
    assert OutboxEmail.objects.get(subject_id=pledge.pk).sent_at is None
    assert smtp_inbox.messages == []


def test_the_drain_sends_the_email_held_back_by_a_broker_outage_once_it_is_back(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    app.control.purge()
    with worker_running():
        with broker_down():
            _submit(campaign, pledge_data)
        assert smtp_inbox.messages == []

        outbox_drain.delay(older_than_seconds=0)
        messages = _settle(smtp_inbox, 1)

    assert [m["To"] for m in messages] == [pledge_data["email"]]
    assert OutboxEmail.objects.get().sent_at is not None


def test_an_email_queued_while_no_worker_ran_and_then_lost_with_the_queue_still_goes(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    app.control.purge()
    _submit(campaign, pledge_data)
    # Redis keeps nothing on disk: a restart loses the queued task.
    app.control.purge()

    with worker_running():
        outbox_drain.delay(older_than_seconds=0)
        messages = _settle(smtp_inbox, 1)

    assert [m["To"] for m in messages] == [pledge_data["email"]]


def test_the_drain_and_the_original_task_together_send_one_email(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any
) -> None:
    app.control.purge()
    _submit(campaign, pledge_data)  # its task waits in the queue: no worker yet
    outbox_drain.delay(older_than_seconds=0)  # queues the same email again

    with worker_running():
        messages = _settle(smtp_inbox, 1)

    assert len(messages) == 1
    outbox = OutboxEmail.objects.get()
    assert outbox.sent_at is not None and outbox.attempts == 1


def test_a_mail_server_outage_is_recorded_and_the_email_goes_when_it_is_back(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any, settings: Any
) -> None:
    from outbox.services import outbox_send

    app.control.purge()
    _submit(campaign, pledge_data)
    app.control.purge()  # this test drives the send itself
    outbox = OutboxEmail.objects.get()
    working_port = settings.EMAIL_PORT
    settings.EMAIL_PORT = free_port()  # nothing listens there

    with pytest.raises(OSError):
        outbox_send(outbox_id=outbox.pk)
    outbox.refresh_from_db()
    assert outbox.sent_at is None and outbox.locked_until is None
    assert outbox.attempts == 1 and "Connection refused" in outbox.last_error

    settings.EMAIL_PORT = working_port
    assert outbox_send(outbox_id=outbox.pk) is True
    assert [m["To"] for m in smtp_inbox.wait_for(1)] == [pledge_data["email"]]
    # A late retry of the failed attempt finds it sent and sends nothing more.
    assert outbox_send(outbox_id=outbox.pk) is False
    assert len(smtp_inbox.messages) == 1


# --- A bulk decision's emails: a task per chunk, each email still sent once ---


def _pending_pledges(campaign: Any, count: int) -> list[Pledge]:
    return [create_pledge(campaign, n) for n in range(count)]


def _publish(pledges: list[Pledge], organiser: Any) -> None:
    result = pledge_moderate(
        pledge_ids=[p.pk for p in pledges], action=Action.PUBLISH, actor=organiser, expected_status="pending"
    )
    assert len(result.done) == len(pledges)


def _published_owing(campaign: Any, count: int, organiser: Any) -> tuple[list[Pledge], list[int]]:
    """`count` pledges published on an emptied broker (so the only tasks queued are this
    publication's, and no worker runs them yet), and the ids of the emails they owe, oldest first."""
    pledges = _pending_pledges(campaign, count)
    app.control.purge()
    _publish(pledges, organiser)
    return pledges, list(OutboxEmail.objects.order_by("pk").values_list("pk", flat=True))


def _queued_tasks() -> list[tuple[str, Any]]:
    """The task name and arguments of each message waiting on the Redis broker's queue."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queued = []
    for raw in client.lrange(app.conf.task_default_queue, 0, -1):
        message = json.loads(raw)
        args, _, _ = json.loads(base64.b64decode(message["body"]))
        queued.append((message["headers"]["task"], args))
    return queued


def test_a_bulk_publish_of_120_pledges_queues_three_tasks_and_each_pledger_hears_once(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _pending_pledges(pre_campaign, 120)
    app.control.purge()

    _publish(pledges, organiser)

    queued = _queued_tasks()
    assert [name for name, _ in queued] == ["outbox.tasks.send_outbox_emails_task"] * 3
    chunks = [args[0] for _, args in queued]
    assert sorted(len(chunk) for chunk in chunks) == [20, 50, 50]
    owed = set(OutboxEmail.objects.filter(kind="published").values_list("pk", flat=True))
    assert sorted(i for chunk in chunks for i in chunk) == sorted(owed) and len(owed) == 120

    with worker_running():
        messages = _settle(smtp_inbox, 120)

    sent_to = Counter(m["To"] for m in messages)
    assert sent_to == Counter(p.email for p in pledges), "an email was lost or sent twice"
    assert all("is live" in m["Subject"] for m in messages)
    # One SMTP connection per task, not one per email.
    assert len(set(smtp_inbox.peers)) == 3
    assert not OutboxEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_mail_server_closing_the_connection_mid_batch_still_delivers_every_email_once(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _pending_pledges(pre_campaign, 50)
    # The 21st email meets a server shutting down: smtplib drops the connection,
    # so the 29 after it cannot go until the task retries.
    smtp_inbox.refuse_once[pledges[20].email] = "421 4.3.2 Service shutting down"
    app.control.purge()

    with worker_running():
        _publish(pledges, organiser)
        messages = _settle(smtp_inbox, 50)

    assert Counter(m["To"] for m in messages) == Counter(p.email for p in pledges)
    assert smtp_inbox.refuse_once == {}, "the server never refused anything"
    emails = dict(Pledge.objects.values_list("pk", "email"))
    attempts = {emails[pk]: n for pk, n in OutboxEmail.objects.values_list("subject_id", "attempts")}
    # Only the refused email was tried twice; the ones held back were tried once, when they went.
    assert attempts.pop(pledges[20].email) == 2
    assert set(attempts.values()) == {1}
    assert not OutboxEmail.objects.filter(sent_at__isnull=True).exists()


def test_a_mail_server_offering_pipelining_gets_each_envelope_in_one_write_and_every_email_once(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    # Owes 6 emails; no worker runs, the test sends them itself.
    pledges, owed = _published_owing(pre_campaign, 6, organiser)

    smtp_inbox.pipelining = False
    assert outbox_send_many(outbox_ids=owed[:3]) == 3
    smtp_inbox.pipelining = True
    assert outbox_send_many(outbox_ids=owed[3:]) == 3

    # Command by command without PIPELINING; MAIL, RCPT and DATA together with it.
    assert smtp_inbox.data_arrived_with_rcpt == [False] * 3 + [True] * 3
    messages = _settle(smtp_inbox, 6)
    assert sorted(m["To"] for m in messages) == sorted(p.email for p in pledges)
    assert OutboxEmail.objects.filter(sent_at__isnull=False).count() == 6


@either_smtp_way
def test_an_address_refused_for_now_does_not_hold_back_the_rest_of_its_batch(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _pending_pledges(pre_campaign, 6)
    busy = pledges[0].email
    smtp_inbox.refuse_once[busy] = "451 4.3.0 Try again later"
    app.control.purge()

    with worker_running():
        _publish(pledges, organiser)
        messages = _settle(smtp_inbox, 6)

    arrived = [m["To"] for m in messages]
    assert sorted(arrived) == sorted(p.email for p in pledges)
    # The other five went at once; the refused one on the retry, after them.
    assert arrived[-1] == busy
    assert OutboxEmail.objects.get(subject_id=pledges[0].pk).attempts == 2


@either_smtp_way
def test_an_email_refused_for_now_on_its_last_attempt_is_marked_failed_and_the_others_still_go(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _pending_pledges(pre_campaign, 5)
    busy = pledges[2].email
    smtp_inbox.refuse[busy] = "451 4.3.0 Try again later"
    app.control.purge()

    with worker_running():
        with transaction.atomic():
            _publish(pledges, organiser)
            # As if the drain had already tried it every time but once.
            OutboxEmail.objects.filter(subject_id=pledges[2].pk).update(attempts=OUTBOX_MAX_ATTEMPTS - 1)
        messages = _settle(smtp_inbox, 4)

    assert sorted(m["To"] for m in messages) == sorted(p.email for p in pledges if p.email != busy)
    failed = OutboxEmail.objects.get(subject_id=pledges[2].pk)
    assert failed.failed_at is not None and failed.sent_at is None
    assert failed.attempts == OUTBOX_MAX_ATTEMPTS
    assert "451 4.3.0 Try again later" in failed.last_error


@either_smtp_way
def test_an_email_refused_for_good_is_tried_once_and_shown_to_organisers_while_one_refused_for_now_goes_later(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    pledges = _pending_pledges(pre_campaign, 5)
    gone, busy = pledges[1], pledges[3]
    smtp_inbox.refuse[gone.email] = "550 5.1.1 No such mailbox"
    smtp_inbox.refuse_once[busy.email] = "451 4.3.0 Try again later"
    app.control.purge()

    with worker_running():
        _publish(pledges, organiser)
        messages = _settle(smtp_inbox, 4)
        # The drain finds nothing of it to send again, however long it has waited.
        assert outbox_drain(older_than_seconds=0) == 0
        time.sleep(1)

    assert sorted(m["To"] for m in messages) == sorted(p.email for p in pledges if p != gone)
    assert messages[-1]["To"] == busy.email, "the email refused for now went on its retry"
    assert OutboxEmail.objects.get(subject_id=busy.pk).attempts == 2
    refused = OutboxEmail.objects.get(subject_id=gone.pk)
    assert refused.attempts == 1, "a 5xx refusal is not retried"
    assert refused.failed_at is not None and refused.sent_at is None
    assert refused.last_error == "SMTPRecipientsRefused: 550 5.1.1 No such mailbox"

    client = Client()
    client.force_login(organiser)
    failed = client.get("/admin/outbox/outboxemail/", {"state": "failed"}).content.decode()
    assert gone.public_id in failed and "550 5.1.1 No such mailbox" in failed
    assert busy.public_id not in failed
    waiting = client.get("/admin/outbox/outboxemail/", {"state": "waiting"}).content.decode()
    assert gone.public_id not in waiting
    queue = client.get("/moderation/", {"campaign": pre_campaign.slug}).content.decode()
    assert "1 email to people of this campaign could not be delivered" in queue


def test_a_batch_and_the_drains_copies_of_its_emails_send_each_email_once(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    # Two batch tasks wait in the queue: no worker yet.
    pledges, owed = _published_owing(pre_campaign, 60, organiser)
    # The drain's copies of the first five ran before their batch did...
    for outbox_id in owed[:5]:
        assert send_outbox_email_task(outbox_id) is True
    # ...and it queues copies of the other 55 behind the batches.
    assert outbox_drain(older_than_seconds=0) == 55

    with worker_running():
        messages = _settle(smtp_inbox, 60)

    assert Counter(m["To"] for m in messages) == Counter(p.email for p in pledges)
    assert set(OutboxEmail.objects.values_list("attempts", flat=True)) == {1}


def test_a_bulk_publish_while_the_broker_is_down_is_made_at_once_and_the_drain_sends_its_emails(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any, caplog: pytest.LogCaptureFixture
) -> None:
    pledges = _pending_pledges(pre_campaign, 120)
    app.control.purge()
    with broker_down(), caplog.at_level(logging.WARNING, logger="outbox.publisher"):
        started = time.monotonic()
        _publish(pledges, organiser)
        elapsed = time.monotonic() - started

    assert elapsed < 5, f"the organiser waited {elapsed:.1f}s for a dead broker"
    # The first chunk met the dead broker and the other two were not tried after it.
    assert [r.getMessage() for r in caplog.records if r.name == "outbox.publisher"] == [
        "Could not queue 120 outbox emails; the drain will send them"
    ]
    assert Pledge.objects.filter(status="published").count() == 120
    assert _queued_tasks() == []

    with worker_running():
        outbox_drain.delay(older_than_seconds=0)
        messages = _settle(smtp_inbox, 120)

    assert Counter(m["To"] for m in messages) == Counter(p.email for p in pledges)


def test_pledges_made_in_the_same_moment_go_to_the_workers_as_one_task_and_each_pledger_hears_once(
    campaign: Any, pledge_data: dict[str, Any], smtp_inbox: Any, settings: Any
) -> None:
    settings.OUTBOX_PUBLISH_WINDOW_MS = 1000
    app.control.purge()
    emails = [f"person{n}@example.org" for n in range(10)]
    for n, email in enumerate(emails):
        fresh = {"email": email, "text": f"{pledge_data['text']} {n}", "submission_token": str(uuid.uuid4())}
        response = _submit(campaign, {**pledge_data, **fresh})
        assert response.status_code == 302

    owed = set(OutboxEmail.objects.values_list("pk", flat=True))
    assert len(owed) == 10
    deadline = time.monotonic() + 10
    while sorted(i for _, args in _queued_tasks() for i in _ids(args)) != sorted(owed):
        assert time.monotonic() < deadline, (
            f"not all of {len(owed)} emails were handed over: {_queued_tasks()}"
        )
        time.sleep(0.05)
    # Requests that fall in the same window share a task (one or two on a quiet machine).
    assert len(_queued_tasks()) < len(owed)

    with worker_running():
        messages = _settle(smtp_inbox, 10)
    assert Counter(m["To"] for m in messages) == Counter(emails)
    assert OutboxEmail.objects.filter(sent_at__isnull=True).count() == 0


def test_a_task_s_worth_of_emails_is_handed_over_at_once_without_waiting_for_the_window(
    campaign: Any, pledge_data: dict[str, Any], settings: Any
) -> None:
    # A window no test would wait out: only a full batch can explain a hand-over in time.
    settings.OUTBOX_PUBLISH_WINDOW_MS = 120_000
    app.control.purge()
    for n in range(OUTBOX_TASK_CHUNK):
        fresh = {"email": f"busy{n}@example.org", "text": f"{pledge_data['text']} {n}"}
        response = _submit(campaign, {**pledge_data, **fresh, "submission_token": str(uuid.uuid4())})
        assert response.status_code == 302

    owed = sorted(OutboxEmail.objects.values_list("pk", flat=True))
    assert len(owed) == OUTBOX_TASK_CHUNK
    deadline = time.monotonic() + 20
    while sorted(i for _, args in _queued_tasks() for i in _ids(args)) != owed:
        assert time.monotonic() < deadline, f"a full batch waited for the window: {_queued_tasks()}"
        time.sleep(0.05)
    assert len(_queued_tasks()) == 1


def _ids(args: list[Any]) -> list[int]:
    return args[0] if isinstance(args[0], list) else [args[0]]


def test_a_batch_claims_and_reads_its_emails_in_two_statements_and_marks_each_sent_in_one(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any
) -> None:
    # Owes 15 emails; no worker runs, the test sends them itself.
    pledges, owed = _published_owing(pre_campaign, 15, organiser)

    def statements(ids: list[int]) -> list[str]:
        with CaptureQueriesContext(connection) as captured:
            assert outbox_send_many(outbox_ids=ids) == len(ids)
        return [query["sql"].split()[0] for query in captured.captured_queries]

    # The batch: one claim of all its emails and one read of them; each email: its "sent".
    assert statements(owed[:5]) == ["UPDATE", "SELECT"] + ["UPDATE"] * 5
    assert statements(owed[5:]) == ["UPDATE", "SELECT"] + ["UPDATE"] * 10
    assert sorted(m["To"] for m in smtp_inbox.messages) == sorted(p.email for p in pledges)
    assert set(OutboxEmail.objects.values_list("attempts", flat=True)) == {1}


def test_a_worker_dying_before_the_final_dot_delivers_nothing_and_the_next_sends_once(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    pledges, owed = _published_owing(pre_campaign, 2, organiser)

    def die_before_recording(outbox: Any, locked_until: Any, send_dot: Any) -> None:
        raise WorkerKilled

    with monkeypatch.context() as patched:
        patched.setattr(services, "_outbox_mark_sent", die_before_recording)
        with pytest.raises(WorkerKilled):
            outbox_send_many(outbox_ids=owed)
    time.sleep(0.3)
    # The whole message reached the server but not its final dot: discarded.
    assert smtp_inbox.messages == []
    assert OutboxEmail.objects.filter(sent_at__isnull=True, locked_until__isnull=False).count() == 2

    # Within the dead worker's claim nobody else takes its emails...
    assert outbox_send_many(outbox_ids=owed) == 0
    # ...and once the claim lapses, they go out, once each.
    lapsed = timezone.now() + settings.OUTBOX_LOCK + timedelta(seconds=1)
    assert outbox_send_many(outbox_ids=owed, now=lapsed) == 2
    messages = _settle(smtp_inbox, 2)
    assert Counter(m["To"] for m in messages) == Counter(p.email for p in pledges)


@pytest.mark.postgres_only("only PostgreSQL sends the record and the final dot back to back")
def test_a_worker_dying_just_after_the_final_dot_leaves_its_email_sent_and_a_retry_sends_no_copy(
    pre_campaign: Any, organiser: Any, smtp_inbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    (pledge,) = _pending_pledges(pre_campaign, 1)
    app.control.purge()
    _publish([pledge], organiser)
    outbox = OutboxEmail.objects.get()
    real_execute_then = mailsession.execute_then

    def die_after_both_writes(sql: str, params: Any, then: Any) -> int:
        def then_die() -> None:
            then()
            raise WorkerKilled

        return real_execute_then(sql, params, then_die)

    with monkeypatch.context() as patched:
        patched.setattr(mailsession, "execute_then", die_after_both_writes)
        with pytest.raises(WorkerKilled):
            outbox_send_many(outbox_ids=[outbox.pk])
    # The server took the message, and "sent" was written with its final dot.
    assert [m["To"] for m in smtp_inbox.wait_for(1)] == [pledge.email]
    outbox.refresh_from_db()
    assert outbox.sent_at is not None

    # The drain's copy, even once the dead worker's claim has lapsed, sends nothing.
    lapsed = timezone.now() + settings.OUTBOX_LOCK + timedelta(seconds=1)
    assert outbox_send_many(outbox_ids=[outbox.pk], now=lapsed) == 0
    assert len(_settle(smtp_inbox, 1)) == 1
