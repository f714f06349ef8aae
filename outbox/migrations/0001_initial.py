# The outbox moves out of pledges into its own app (issue 16 item 1): a row names its subject by
# kind and id instead of a foreign key to a pledge, a reminder sign-up or an account.
# pledges 0015 copies the existing rows over and drops the old table.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
    ]

    operations = [
        migrations.CreateModel(
            name='OutboxEmail',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(max_length=32)),
                ('subject_id', models.BigIntegerField()),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('not_before', models.DateTimeField(blank=True, null=True)),
                ('enqueued_at', models.DateTimeField(blank=True, null=True)),
                ('locked_until', models.DateTimeField(blank=True, null=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('last_error', models.TextField(blank=True)),
                ('sent_at', models.DateTimeField(blank=True, null=True)),
                ('failed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'ordering': ['created_at', 'id'],
                'indexes': [models.Index(condition=models.Q(('failed_at__isnull', True), ('sent_at__isnull', True)), fields=['created_at'], name='outbox_email_unsent_idx'), models.Index(condition=models.Q(('failed_at__isnull', False)), fields=['failed_at'], name='outbox_email_failed_idx'), models.Index(fields=['subject_id', 'kind'], name='outbox_email_subject_idx')],
            },
        ),
    ]
