from django.db import migrations, models
from django.db.models import F

# A report now counts once per client network, and a second report from one
# session is kept too. The network of an existing report is unknown: each one
# stands for its own network (its session's key), and each one already counts in
# Pledge.report_count, so every existing row is marked counted and no count moves.


def existing_reports_are_their_own_networks(apps, schema_editor):
    Report = apps.get_model("pledges", "Report")
    Report.objects.update(network_key=F("reporter_key"), counted=True)


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0009_published_only_wall_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="report",
            name="network_key",
            field=models.CharField(default="", max_length=64),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="report",
            name="counted",
            field=models.BooleanField(default=False, verbose_name="counts towards hiding"),
        ),
        migrations.RunPython(existing_reports_are_their_own_networks, migrations.RunPython.noop, elidable=True),
        migrations.RemoveConstraint(
            model_name="report",
            name="report_once_per_visitor",
        ),
        migrations.AddConstraint(
            model_name="report",
            constraint=models.UniqueConstraint(
                condition=models.Q(("counted", True)),
                fields=("pledge", "network_key"),
                name="report_counted_once_per_network",
            ),
        ),
    ]
