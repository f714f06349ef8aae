from __future__ import annotations

from django.db import migrations

SECTORS = [
    ("nhs", "NHS", 1),
    ("social-care", "Social care", 2),
    ("housing", "Housing", 4),
    ("patient-carer", "Patient or carer", 8),
]


def create_sectors(apps, schema_editor) -> None:
    Sector = apps.get_model("pledges", "Sector")
    for slug, name, bit in SECTORS:
        Sector.objects.update_or_create(slug=slug, defaults={"name": name, "bit": bit})


class Migration(migrations.Migration):
    dependencies = [("pledges", "0001_initial")]

    operations = [migrations.RunPython(create_sectors, migrations.RunPython.noop)]
