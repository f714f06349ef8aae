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


def grant_organisers(apps, schema_editor):
    """Organisers could see the outbox in the admin (campaigns.services.ORGANISER_PERMISSIONS):
    they keep that under its new name. Django makes the permission after migrating; made here
    the same way (it finds this one then), only where the organisers' group already exists."""
    group = apps.get_model("auth", "Group").objects.filter(name="Organisers").first()
    if group is None:
        return
    content_type, _ = apps.get_model("contenttypes", "ContentType").objects.get_or_create(
        app_label="outbox", model="outboxemail"
    )
    permission, _ = apps.get_model("auth", "Permission").objects.get_or_create(
        content_type=content_type, codename="view_outboxemail", defaults={"name": "Can view outbox email"}
    )
    group.permissions.add(permission)


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0015_moderation_moves_out"),
        ("outbox", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        # Not reversible: the copy goes one way (the old table's foreign keys are not rebuilt).
        migrations.RunPython(copy_rows),
        migrations.RunPython(grant_organisers, migrations.RunPython.noop),
        migrations.DeleteModel(name="OutboxEmail"),
    ]
