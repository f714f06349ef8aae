"""`manage.py import_organisations FILE`: the admin's CSV import, from a shell."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from organisations.services import organisations_import


class Command(BaseCommand):
    help = (
        "Create and update directory organisations from a CSV file (columns: code, name, kind, region, "
        "postcode, domains, headcount). All or nothing: any bad row is reported and nothing is imported."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            data = path.read_bytes()
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        result = organisations_import(csv_file=data)
        if not result.ok:
            for problem in result.problems:
                self.stderr.write(str(problem))
            raise CommandError(f"{len(result.problems)} bad row(s) in {path}; nothing was imported.")
        self.stdout.write(
            self.style.SUCCESS(
                f"Imported {path}: {result.created} created, {result.updated} updated, "
                f"{result.unchanged} unchanged."
            )
        )
