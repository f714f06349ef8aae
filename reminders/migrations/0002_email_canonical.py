"""Sign-ups and deliveries are found by one canonical form of an address (issue 15, item 1).

Every sign-up gets `email_canonical` (changeday.lib.emailaddr.canonical_email),
filled in Python in batches, and the unique key becomes (campaign, email_canonical).
Sign-ups of one campaign that now share an address are merged as a second sign-up
is today: one row is kept (the earliest), and it takes the others' deliveries. It
is unsubscribed if any of them was (we never mail someone who asked us to stop),
else confirmed if any was.

A delivery's recipient becomes the canonical address. Deliveries of one reminder
that now share a recipient are one: the one sent (or furthest on) is kept, so no
one hears a reminder twice.

Reversing restores the old unique key on (campaign, email) and leaves the data
as it is: `email` was never rewritten, and at most one sign-up per address remains.
"""

from collections import defaultdict

from django.db import migrations, models
from django.db.models import Q

from changeday.lib.emailaddr import canonical_email

BATCH = 5000
# Which delivery of a colliding group is kept: the lowest rank, then the earliest.
DELIVERY_RANK = {"sent": 0, "sending": 1, "pending": 2, "failed": 3, "skipped": 4}


def write_column(schema_editor, table: str, column: str, values: list[tuple[int, str]]) -> None:
    """Set `column` of each (id, value), in one statement on PostgreSQL."""
    if not values:
        return
    with schema_editor.connection.cursor() as cursor:
        if schema_editor.connection.vendor == "postgresql":
            cursor.execute(
                f"UPDATE {table} AS t SET {column} = v.value"
                " FROM unnest(%s::bigint[], %s::text[]) AS v(id, value) WHERE t.id = v.id",
                [[pk for pk, _ in values], [value for _, value in values]],
            )
        else:
            cursor.executemany(f"UPDATE {table} SET {column} = %s WHERE id = %s", [(v, pk) for pk, v in values])


def signups_backfill(apps, schema_editor) -> None:
    ReminderSignup = apps.get_model("reminders", "ReminderSignup")
    ReminderDelivery = apps.get_model("reminders", "ReminderDelivery")
    table = ReminderSignup._meta.db_table
    groups: dict[tuple[int, str], list[int]] = defaultdict(list)
    after = 0
    while True:
        rows = list(
            ReminderSignup.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "campaign_id", "email")[:BATCH]
        )
        if not rows:
            break
        after = rows[-1][0]
        canonicals = []
        for pk, campaign_id, email in rows:
            canonical = canonical_email(email)
            canonicals.append((pk, canonical))
            groups[(campaign_id, canonical)].append(pk)
        write_column(schema_editor, table, "email_canonical", canonicals)
    for ids in groups.values():
        if len(ids) < 2:
            continue
        keep, *others = sorted(ids)
        statuses = set(ReminderSignup.objects.filter(pk__in=ids).values_list("status", flat=True))
        merged = "unconfirmed"
        for status in ("unsubscribed", "confirmed"):
            if status in statuses:
                merged = status
                break
        ReminderDelivery.objects.filter(signup_id__in=others).update(signup_id=keep)
        ReminderSignup.objects.filter(pk__in=others).delete()
        ReminderSignup.objects.filter(pk=keep).exclude(status=merged).update(status=merged)
    settle(schema_editor)


def deliveries_backfill(apps, schema_editor) -> None:
    ReminderDelivery = apps.get_model("reminders", "ReminderDelivery")
    moving: dict[int, str] = {}  # pk -> canonical recipient, for the few that change
    after = 0
    while True:
        rows = list(
            ReminderDelivery.objects.filter(pk__gt=after).order_by("pk").values_list("pk", "recipient")[:BATCH]
        )
        if not rows:
            break
        after = rows[-1][0]
        for pk, recipient in rows:
            canonical = canonical_email(recipient)
            if canonical != recipient:
                moving[pk] = canonical
    if not moving:
        return
    groups: dict[tuple[int, int, str], list] = defaultdict(list)
    candidates = ReminderDelivery.objects.filter(Q(pk__in=list(moving)) | Q(recipient__in=set(moving.values())))
    for delivery in candidates.order_by("pk"):
        groups[(delivery.campaign_id, delivery.reminder_id, moving.get(delivery.pk, delivery.recipient))].append(
            delivery
        )
    gone = set()
    for group in groups.values():
        group.sort(key=lambda d: (DELIVERY_RANK.get(d.status, len(DELIVERY_RANK)), d.pk))
        gone |= {delivery.pk for delivery in group[1:]}
    ReminderDelivery.objects.filter(pk__in=gone).delete()
    staying = [(pk, value) for pk, value in moving.items() if pk not in gone]
    table = ReminderDelivery._meta.db_table
    # Through placeholders, as the unique key (campaign, reminder, recipient) is checked per row.
    write_column(schema_editor, table, "recipient", [(pk, f"migrating-{pk}") for pk, _ in staying])
    write_column(schema_editor, table, "recipient", staying)
    settle(schema_editor)


def settle(schema_editor) -> None:
    """Run the foreign-key checks the deletes left pending now: PostgreSQL refuses
    to build an index on a table with checks still pending in the transaction."""
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_moderation"),
        ("pledges", "0013_email_canonical"),
        ("reminders", "0001_initial"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="remindersignup", name="signup_unique_email"),
        migrations.AddField(
            model_name="remindersignup",
            name="email_canonical",
            field=models.CharField(default="", editable=False, max_length=320),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="reminderdelivery",
            name="recipient",
            field=models.CharField(max_length=320),
        ),
        migrations.RunPython(signups_backfill, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(deliveries_backfill, migrations.RunPython.noop, elidable=False),
        migrations.AddConstraint(
            model_name="remindersignup",
            constraint=models.UniqueConstraint(fields=("campaign", "email_canonical"), name="signup_unique_email"),
        ),
    ]
