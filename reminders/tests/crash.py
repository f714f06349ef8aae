"""The crash harness the reminder and follow-through crash tests share.

A real Celery worker runs as a separate process (prefork, two children) against the test
database and Redis, sending to a real SMTP server on loopback that counts each message once
per recipient. Part way through a run the whole worker is killed with SIGKILL; a new one is
started and the beat task's dispatch runs every few seconds, as in production.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.conf import settings as django_settings

from reminders.tasks import reminders_dispatch_task
from testsupport import processes


class CountingSink:
    """Counts each message once per recipient, as a mail provider bills them."""

    def __init__(self) -> None:
        self.received: Counter[str] = Counter()
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        with self._lock:
            self.received.update(envelope.rcpt_tos)
        return "250 OK"

    def total(self) -> int:
        with self._lock:
            return sum(self.received.values())

    def duplicates(self) -> dict[str, int]:
        with self._lock:
            return {address: n for address, n in self.received.items() if n > 1}


@pytest.fixture
def sink() -> Iterator[tuple[CountingSink, int]]:
    handler = CountingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=processes.free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


def kill_a_worker_mid_run(
    *, counter: CountingSink, port: int, settings: Any, tmp_path: Path, recipients: int, kill_after: int
) -> None:
    """Dispatch the due run, SIGKILL its worker once `kill_after` messages have arrived, start
    another, and run beat's dispatch every few seconds until every recipient has a message."""
    from changeday.celery import app

    settings.REMINDER_BATCH_SIZE = 250
    settings.REMINDER_REQUEUE_SECONDS = 0
    app.control.purge()
    env = processes.django_env(
        DATABASE_URL=processes.database_url(),
        REDIS_URL=django_settings.REDIS_URL,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(port),
        REMINDER_SEND_RATE="0",
        # A short claim, so the rows the killed worker held come back quickly; a living
        # worker renews its own (reminders.services._Lease), however slow the machine.
        REMINDER_CLAIM_SECONDS="5",
    )

    def start_worker(name: str) -> processes.AppProcess:
        return processes.celery_worker(
            env=env, log=tmp_path / f"{name}.log", name=name, pool="prefork", concurrency=2
        )

    first = start_worker("first")
    second = None
    try:
        reminders_dispatch_task()
        processes.wait_until(lambda: counter.total() >= kill_after, timeout=180, what="the first messages")
        first.kill()
        at_kill = counter.total()
        time.sleep(0.5)
        print(f"worker killed after {at_kill} of {recipients} messages")
        assert at_kill < recipients, "the kill came too late to test anything"

        second = start_worker("second")

        # Beat's dispatch, every few seconds: it hands out again what the dead
        # worker held once its claims lapse.
        def all_arrived() -> bool:
            if counter.total() >= recipients:
                return True
            reminders_dispatch_task()
            return False

        processes.wait_until(all_arrived, timeout=600, what=f"all {recipients} messages", interval=3)
        time.sleep(2)  # anything still in flight would show up as a duplicate now
    finally:
        first.kill()
        if second is not None:
            second.stop()
