"""By hand, what the beat task does every two minutes: start the reminders that
are due and send them. Sends here, in this process, unless --queue hands the
batches to the Celery workers as the task does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.models import Campaign
from outbox.mailsession import Throttle
from reminders import services
from reminders.selectors import reminder_run_counts
from reminders.tasks import reminder_send_batch_task


class Command(BaseCommand):
    help = (
        "Send the reminders and follow-through emails that are due (what the scheduled task does), "
        "or count them with --dry-run."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Print how many would go; send nothing.")
        parser.add_argument("--campaign", metavar="SLUG", help="Only this campaign.")
        parser.add_argument("--queue", action="store_true", help="Hand the batches to the Celery workers.")
        parser.add_argument(
            "--now", metavar="ISO-TIME", help="Act as if it were this time (to try a schedule out)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        now = self._now(options["now"])
        campaign = None
        if options["campaign"]:
            campaign = Campaign.objects.filter(slug=options["campaign"]).first()
            if campaign is None:
                raise CommandError(f"No campaign with the slug {options['campaign']!r}.")
        if options["dry_run"]:
            self._dry_run(now=now, campaign=campaign)
            return
        results = services.reminders_dispatch(now=now, campaign=campaign)
        if not results:
            self.stdout.write("No reminders are due.")
        throttle = Throttle(settings.REMINDER_SEND_RATE)
        for result in results:
            for first_id, last_id in result.batches:
                if options["queue"]:
                    reminder_send_batch_task.delay(result.run.pk, first_id, last_id)
                else:
                    services.reminder_send_batch(
                        run_id=result.run.pk, first_id=first_id, last_id=last_id, now=now, throttle=throttle
                    )
            counts = reminder_run_counts(run=result.run)
            queued = " (queued for the workers)" if options["queue"] and result.batches else ""
            self.stdout.write(
                f"{result.run.campaign.slug}: {result.run.reminder.label}: {counts.recipients} recipients, "
                f"{counts.sent} sent, {counts.failed} failed, {counts.skipped} skipped, "
                f"{counts.waiting} waiting{queued}"
            )

    def _dry_run(self, *, now: datetime, campaign: Campaign | None) -> None:
        due = services.reminders_due(now=now, campaign=campaign)
        if not due:
            self.stdout.write("No reminders are due.")
        total = 0
        for reminder in due:
            count = services.reminder_count_unplanned(reminder=reminder, now=now)
            total += count
            self.stdout.write(f"{reminder.campaign.slug}: {reminder.label}: {count} would go")
        self.stdout.write(f"Dry run: {total} reminder email{'s' if total != 1 else ''} would go; none sent.")

    def _now(self, raw: str | None) -> datetime:
        if not raw:
            return timezone.now()
        value = parse_datetime(raw)
        if value is None:
            raise CommandError(f"--now must be a date and time like 2027-03-24T09:00; got {raw!r}.")
        return value if timezone.is_aware(value) else timezone.make_aware(value)
