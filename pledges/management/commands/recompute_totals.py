from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.models import Campaign
from pledges.services import campaign_recompute_totals


class Command(BaseCommand):
    help = "Recount the live counters of published pledges from the pledges themselves."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", help="Slug of one campaign; every campaign when left out.")

    def handle(self, *args: Any, **options: Any) -> None:
        campaigns = Campaign.objects.order_by("pk")
        if options["campaign"]:
            campaigns = campaigns.filter(slug=options["campaign"])
            if not campaigns.exists():
                raise CommandError(f"No campaign with the slug {options['campaign']!r}.")
        for campaign in campaigns:
            started = time.monotonic()
            drift = campaign_recompute_totals(campaign=campaign)
            elapsed = time.monotonic() - started
            if drift:
                detail = ", ".join(f"{key} {was}->{now}" for key, (was, now) in sorted(drift.items()))
                self.stdout.write(
                    f"{campaign.slug}: repaired {len(drift)} counters ({detail}) in {elapsed:.2f}s"
                )
            else:
                self.stdout.write(f"{campaign.slug}: all counters exact ({elapsed:.2f}s)")
