# An email the confirmation cap holds back (at most 3 pledge confirmations to one
# address an hour, issue 15 item 4) waits in the outbox until its not_before.
# Null, as for every existing row, means at once.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("pledges", "0013_email_canonical"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxemail",
            name="not_before",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
