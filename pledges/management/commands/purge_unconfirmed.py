from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from pledges.privacy import unconfirmed_purge


class Command(BaseCommand):
    help = (
        "Delete pledges never confirmed whose confirmation links can no longer work "
        "(what the hourly scheduled task does)."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        for what, count in unconfirmed_purge().items():
            self.stdout.write(f"{what}: purged {count}")
