# The audit record and reports, moved from the pledges app with their rows: Django's
# record of the models is made here over the existing tables (pledges_moderationevent,
# pledges_report, as pledges/migrations/0015_moderation_moves_out.py left them), then
# the tables are renamed to this app's names. On a new database the tables come from
# pledges' migrations 0004 to 0010 and are renamed the same way.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

MOVED = ("moderationevent", "report")


def content_types_follow(apps, schema_editor):
    """Keep the admin's history and the organisers' permissions on these models: their
    content types move with them rather than new ones being made beside."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="moderation", model=model).exists():
            ContentType.objects.filter(app_label="pledges", model=model).update(app_label="moderation")


def content_types_return(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MOVED:
        if not ContentType.objects.filter(app_label="pledges", model=model).exists():
            ContentType.objects.filter(app_label="moderation", model=model).update(app_label="pledges")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("pledges", "0015_moderation_moves_out"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ModerationEvent",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("action", models.CharField(choices=[("publish", "Publish"), ("reject", "Reject"), ("hide", "Hide"), ("restore", "Restore"), ("withdraw", "Withdrawn by the pledger"), ("auto-hide", "Hidden after reports")], max_length=16)),
                        ("from_status", models.CharField(choices=[("unconfirmed", "Awaiting email confirmation"), ("pending", "Awaiting moderation"), ("published", "Published"), ("rejected", "Rejected"), ("hidden", "Hidden after reports"), ("withdrawn", "Withdrawn by the pledger")], max_length=16)),
                        ("to_status", models.CharField(choices=[("unconfirmed", "Awaiting email confirmation"), ("pending", "Awaiting moderation"), ("published", "Published"), ("rejected", "Rejected"), ("hidden", "Hidden after reports"), ("withdrawn", "Withdrawn by the pledger")], max_length=16)),
                        ("reason_code", models.CharField(blank=True, choices=[("offensive", "Offensive or abusive"), ("personal-data", "Contains personal or clinical details"), ("not-a-pledge", "Not a pledge"), ("spam", "Spam or advertising"), ("duplicate", "Duplicate of another pledge"), ("other", "Other")], max_length=32)),
                        ("reason_text", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True, db_index=True)),
                        ("actor", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name="moderation_events", to=settings.AUTH_USER_MODEL)),
                        ("pledge", models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="moderation_events", to="pledges.pledge")),
                    ],
                    options={
                        "ordering": ["-created_at", "-id"],
                        "db_table": "pledges_moderationevent",
                    },
                ),
                migrations.CreateModel(
                    name="Report",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("reporter_key", models.CharField(max_length=64)),
                        ("network_key", models.CharField(max_length=64)),
                        ("counted", models.BooleanField(default=False, verbose_name="counts towards hiding")),
                        ("reason", models.CharField(choices=[("offensive", "It is offensive or abusive"), ("personal-data", "It contains someone's personal details"), ("spam", "It is spam or advertising"), ("not-a-pledge", "It is not a pledge"), ("other", "Something else")], max_length=16)),
                        ("detail", models.CharField(blank=True, max_length=500)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("pledge", models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name="reports", to="pledges.pledge")),
                    ],
                    options={
                        "ordering": ["-created_at"],
                        "db_table": "pledges_report",
                        "constraints": [
                            models.UniqueConstraint(condition=models.Q(("counted", True)), fields=("pledge", "network_key"), name="report_counted_once_per_network"),
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # Renamed in place: the rows, indexes and constraints stay as they are.
        migrations.AlterModelTable(name="moderationevent", table=None),
        migrations.AlterModelTable(name="report", table=None),
        migrations.RunPython(content_types_follow, content_types_return),
    ]
