# The organisers' dashboard reads a campaign's last 48 hours of confirmations from this
# index (moderation.dashboard). Numbered 0021: 0020 is another change's.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('pledges', '0020_organisation_suggestions'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='pledge',
            index=models.Index(condition=models.Q(('confirmed_at__isnull', False)), fields=['campaign', 'confirmed_at'], name='pledge_confirmed_idx'),
        ),
    ]
