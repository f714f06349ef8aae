from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from campaigns.selectors import campaign_get_by_slug
from pages.retention import campaign_personal_data_erase, retention_erase_due


class Command(BaseCommand):
    help = (
        "Erase pledgers' addresses, reminder sign-ups, report network hashes and unpublished stories "
        "of every campaign past its retention date (what the scheduled job does), or of one campaign now."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--campaign", help="Erase this campaign's personal data now, whatever its date.")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options.get("campaign")
        if slug:
            campaign = campaign_get_by_slug(slug)
            if campaign is None:
                raise CommandError(f"No campaign with the slug {slug!r}.")
            result = campaign_personal_data_erase(campaign=campaign)
        else:
            result = retention_erase_due()
        self.stdout.write(
            f"Erased for {len(result.campaigns)} campaign(s): {result.addresses} addresses, "
            f"{result.signups} reminder sign-ups, {result.deliveries} reminder deliveries, "
            f"{result.suppression_replies} mail server replies on the suppression list, "
            f"{result.reports} report hashes, {result.stories} unpublished stories."
        )
