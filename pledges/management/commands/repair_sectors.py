from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pledges.sectors import pledge_sectors_repair


class Command(BaseCommand):
    help = "Derive every pledge's sector_mask again from its sector tags wherever the two disagree."

    def handle(self, *args: Any, **options: Any) -> None:
        repair = pledge_sectors_repair()
        if not (repair.masks_repaired or repair.tags_restored):
            self.stdout.write("Every pledge's sector_mask agrees with its tags.")
            return
        self.stdout.write(
            f"Masks derived again from the tags: {len(repair.masks_repaired)} pledges; "
            f"tags restored from the mask (none were left): {len(repair.tags_restored)} pledges; "
            f"counters recounted in {len(repair.campaigns_recounted)} campaigns."
        )
