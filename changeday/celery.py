from __future__ import annotations

import gc
import logging
import os
import sys
from typing import Any

from celery import Celery
from celery.schedules import crontab
from celery.signals import (
    after_setup_logger,
    after_setup_task_logger,
    task_postrun,
    task_prerun,
    worker_process_init,
)

from changeday.lib.logfilters import RedactTokens

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")

app = Celery("changeday")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Celery's Django fixup closes the database connection before and after every task unless told to
# reuse it: on Change Day that was a new PostgreSQL backend for every confirmation email
# (bench/README.md). Django's own rule for web requests decides instead (below): keep a connection
# for DB_CONN_MAX_AGE seconds, and drop one that an error left broken.
app.conf["CELERY_DB_REUSE_MAX"] = sys.maxsize


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_for_a_request(**_: Any) -> None:
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
def _freeze_what_is_loaded(**_: Any) -> None:
    # As changeday/wsgi.py does for the web: a worker's loaded code never becomes garbage, so
    # full collections need not walk it between one email and the next.
    gc.collect()
    gc.freeze()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _tokens_out_of_worker_logs(logger: logging.Logger, **_: Any) -> None:
    # A worker or beat replaces the root logger's handlers with its own (worker_hijack_root_logger),
    # so settings.LOGGING's filter is gone from them: each gets it back.
    for handler in logger.handlers:
        if not any(isinstance(existing, RedactTokens) for existing in handler.filters):
            handler.addFilter(RedactTokens())


# The whole beat schedule lives here, one entry per periodic job.
app.conf.beat_schedule = {
    # Emails whose task was never queued (broker down at submission) or whose
    # worker died go out within a minute; a pledger waits no longer than that.
    "drain-email-outbox": {
        "task": "outbox.tasks.outbox_drain",
        "schedule": 60.0,
    },
    # Reminders are set for a day and a time of day; two minutes late is on
    # time for a person, and each pass is cheap when nothing is due.
    "dispatch-reminders": {
        "task": "reminders.tasks.reminders_dispatch_task",
        "schedule": 120.0,
    },
    # Counters move in the same transaction as each status change, so drift
    # means a bug or a manual edit; a recount every ten minutes bounds how long
    # a wrong total can show, at the cost of one aggregate per campaign.
    "recompute-totals": {
        "task": "pledges.tasks.recompute_totals_task",
        "schedule": 600.0,
    },
    # Every write path derives sector_mask from the tags it writes, so a disagreement
    # means a manual edit or a restore; once a night, at an hour of few pledges, bounds
    # how long a wall filter can miss a pledge, at the cost of one pass over every pledge.
    "repair-sectors": {
        "task": "pledges.tasks.repair_sectors_task",
        "schedule": crontab(hour=3, minute=30),
    },
    # Unconfirmed pledges hold addresses we were never allowed to keep. The rule
    # is counted in days, so an hour late is nothing, and hourly runs keep each
    # one to about an hour's abandoned forms: small batches, short locks.
    "purge-unconfirmed": {
        "task": "pledges.tasks.purge_unconfirmed_task",
        "schedule": 3600.0,
    },
    # Each privacy notice promises a date (days after outcomes close) when pledgers' addresses
    # and the rest go: the promise is a day, so once a night is on time, and a campaign
    # already erased costs one row read.
    "erase-expired-personal-data": {
        "task": "pages.tasks.retention_erase_task",
        "schedule": crontab(hour=4, minute=15),
    },
}
