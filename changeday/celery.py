from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changeday.settings")

app = Celery("changeday")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The whole beat schedule lives here, one entry per periodic job.
app.conf.beat_schedule = {
    # Emails whose task was never queued (broker down at submission) or whose
    # worker died go out within a minute; a pledger waits no longer than that.
    "drain-email-outbox": {
        "task": "pledges.tasks.outbox_drain",
        "schedule": 60.0,
    },
}
