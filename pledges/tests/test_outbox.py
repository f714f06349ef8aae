"""A pledge is never lost and its confirmation email always goes, once, even
when the broker or the worker is down at the moment of submission."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.conf import settings
from django.test import Client

from changeday.celery import app
from conftest import free_port
from pledges.models import OutboxEmail, Pledge
from pledges.tasks import outbox_drain

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not settings.CELERY_BROKER_URL.startswith("redis"),
        reason="needs the Redis broker (make test runs with REDIS_URL)",
    ),
]


def _use_broker(url: str) -> None:
    app.conf.broker_url = url
    # Both pools cache connections to the old URL; drop them as Celery does after a fork.
    app._pool = None
    app.amqp._producer_pool = None


@contextmanager
def broker_down() -> Iterator[None]:
    """Producers in this process see the broker as down: a closed loopback port."""
    _use_broker(f"redis://127.0.0.1:{free_port()}/0")
    try:
        yield
    finally:
        _use_broker(settings.CELERY_BROKER_URL)


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
    assert OutboxEmail.objects.get(pledge=pledge).sent_at is None
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
    from pledges.services import outbox_send

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
