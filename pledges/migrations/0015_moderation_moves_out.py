# The audit record (ModerationEvent) and visitors' reports (Report) now belong to the
# moderation app. Only Django's record of the models leaves pledges here: the tables
# and their rows stay, and moderation/migrations/0001_initial.py takes them over.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0014_outbox_not_before"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ModerationEvent"),
                migrations.DeleteModel(name="Report"),
            ],
            database_operations=[],
        ),
    ]
