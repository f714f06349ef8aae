"""Hands committed outbox emails to the Celery workers a few at a time.

On Change Day every pledge owes a confirmation email. One Celery task per email cost the web
process a broker publish in each request and the workers a task and an SMTP connection per
email (bench/README.md). Instead, each web process gathers the ids
its requests committed in a background thread and publishes them as one task, which sends them over
one mail connection (outbox.tasks.send_outbox_emails_task): as soon as a task's worth
(OUTBOX_TASK_CHUNK) has gathered, or OUTBOX_PUBLISH_WINDOW_MS after the first of them. A
batch costs the worker a mail connection, a claim and a read whatever its size, a large share of
each email's CPU in small batches (bench/README.md), so at a busy moment batches fill up,
and at a quiet one an email waits at most the window.

Nothing depends on the publish for safety: the outbox row is committed before its id gets here,
and if the process dies first, or the broker is down, outbox_drain sends it within minutes.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
from collections.abc import Sequence

from django.conf import settings

from outbox import tasks

logger = logging.getLogger(__name__)


class OutboxPublisher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: list[int] = []
        self._wake = threading.Event()
        self._full = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def hand_over(self, outbox_ids: Sequence[int]) -> None:
        """Publish these committed ids soon, with any others that arrive meanwhile."""
        window = settings.OUTBOX_PUBLISH_WINDOW_MS / 1000
        if window <= 0:
            publish(list(outbox_ids))
            return
        with self._lock:
            self._pending.extend(outbox_ids)
            if len(self._pending) >= OUTBOX_TASK_CHUNK:
                self._full.set()
            # Started lazily: a thread made before gunicorn or Celery forks would not exist in the child.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._run, name="outbox-publisher", daemon=True)
                self._thread.start()
        self._wake.set()

    def flush(self) -> None:
        """Publish whatever is waiting, now, in the calling thread."""
        with self._lock:
            ids, self._pending = self._pending, []
        if ids:
            publish(ids)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            # Let the other requests of this moment join the batch, up to a task's worth. The
            # window is read each time, not when the thread started, so a changed setting holds
            # (a test's, or one process's) without restarting the thread.
            self._full.wait(max(settings.OUTBOX_PUBLISH_WINDOW_MS / 1000, 0))
            with self._lock:
                self._wake.clear()
                self._full.clear()
            try:
                self.flush()
            except Exception:
                # The thread must outlive anything a publish can raise; the drain covers the ids.
                logger.exception("Publishing outbox emails failed; the drain will send them")


def publish(outbox_ids: list[int]) -> None:
    outbox_enqueue(outbox_ids)


# A bulk decision's emails go out this many to a task: one publish per chunk
# rather than per email, while several workers still share a big decision.
OUTBOX_TASK_CHUNK = 50


def outbox_enqueue(outbox_ids: Sequence[int]) -> None:
    """Hand committed emails to the workers, OUTBOX_TASK_CHUNK to a task, each
    task sending its emails over one mail connection."""
    for start in range(0, len(outbox_ids), OUTBOX_TASK_CHUNK):
        try:
            tasks.send_outbox_emails_task.delay(list(outbox_ids[start : start + OUTBOX_TASK_CHUNK]))
        except Exception:
            # The broker is down. The rows are committed; outbox_drain sends them
            # once the broker and a worker are back. The person still sees success,
            # and the remaining chunks are not tried: each would wait out the dead
            # broker's timeout in turn.
            logger.warning(
                "Could not queue %d outbox emails; the drain will send them", len(outbox_ids) - start
            )
            return


publisher = OutboxPublisher()
# A web process stopped gracefully (a deploy, gunicorn's max-requests) hands over what it holds.
atexit.register(publisher.flush)
