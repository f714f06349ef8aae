# The outbox moves into its own app (outbox 0001): every existing row is copied there with its id,
# its pledge, sign-up or account becoming (kind, subject_id), and the old table goes. Ids are kept
# so tasks already queued with them still find their emails; the new table's id sequence then
# starts after the highest copied id.

from django.core.management.color import no_style
from django.db import migrations

COPY = """
INSERT INTO outbox_outboxemail (id, kind, subject_id, created_at, not_before, enqueued_at,
    locked_until, attempts, last_error, sent_at, failed_at)
SELECT id, kind, COALESCE(pledge_id, signup_id, user_id), created_at, not_before, enqueued_at,
    locked_until, attempts, last_error, sent_at, failed_at
FROM pledges_outboxemail
"""


def copy_rows(apps, schema_editor):
    connection = schema_editor.connection
    schema_editor.execute(COPY)
    model = apps.get_model("outbox", "OutboxEmail")
    for statement in connection.ops.sequence_reset_sql(no_style(), [model]):
        schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0014_outbox_not_before"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        # Not reversible: the copy goes one way (the old table's foreign keys are not rebuilt).
        migrations.RunPython(copy_rows),
        migrations.DeleteModel(name="OutboxEmail"),
    ]
