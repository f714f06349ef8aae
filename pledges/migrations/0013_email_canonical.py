"""Pledges are found by one canonical form of their address (issue 15, item 1).

`email_canonical` (changeday.lib.emailaddr.canonical_email) is filled in Python for
every existing pledge, in batches, and the dedupe key is remade from it. Two pledges
of one campaign whose keys now agree (the same promise from one address typed two
ways, say a domain in Unicode and in punycode) are one promise: the most advanced
is kept (published, then hidden, pending, rejected, withdrawn, unconfirmed; the
earliest among equals) and the others are deleted as pledger_data_erase deletes:
their moderation decisions stay without them and without the organiser's words,
and a published one leaves the live counters, so the totals stay exact.

The UPPER(email) and LOWER(email) indexes give way to indexes on email_canonical.
Reversing drops the column and restores the old indexes; the merged pledges stay
deleted and the dedupe keys stay canonical (for an ASCII address they are what the
old code made).
"""

import hashlib
from collections import defaultdict

from django.db import migrations, models
from django.db.models import F, Q

from changeday.lib.emailaddr import canonical_email
from pledges.models import total_keys_for

BATCH = 5000
# Which pledge of a colliding group is kept: the lowest rank, then the earliest.
STATUS_RANK = {"published": 0, "hidden": 1, "pending": 2, "rejected": 3, "withdrawn": 4, "unconfirmed": 5}


def dedupe_key(canonical: str, text: str) -> str:
    # pledges.services.pledge_dedupe_key as of this migration.
    return hashlib.sha256(f"{canonical}\n{' '.join(text.split()).lower()}".encode()).hexdigest()


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


def backfill(apps, schema_editor) -> None:
    """Fill email_canonical of every pledge, then merge what now collides."""
    Pledge = apps.get_model("pledges", "Pledge")
    table = Pledge._meta.db_table
    moving: dict[int, str] = {}  # pk -> its new dedupe key, for the few whose key changes
    after = 0
    while True:
        rows = list(
            Pledge.objects.filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", "email", "text", "dedupe_key")[:BATCH]
        )
        if not rows:
            break
        after = rows[-1][0]
        canonicals = []
        for pk, email, text, key in rows:
            canonical = canonical_email(email)
            canonicals.append((pk, canonical))
            new_key = dedupe_key(canonical, text)
            if new_key != key:
                moving[pk] = new_key
        write_column(schema_editor, table, "email_canonical", canonicals)
    merge(apps, schema_editor, moving)
    settle(schema_editor)


def merge(apps, schema_editor, moving: dict[int, str]) -> None:
    """Give the pledges in `moving` their new dedupe keys, deleting all but one of
    each group of a campaign's pledges whose keys then agree."""
    if not moving:
        return
    Pledge = apps.get_model("pledges", "Pledge")
    groups: dict[tuple[int, str], list] = defaultdict(list)
    candidates = Pledge.objects.filter(Q(pk__in=list(moving)) | Q(dedupe_key__in=set(moving.values())))
    for pledge in candidates.order_by("pk"):
        groups[(pledge.campaign_id, moving.get(pledge.pk, pledge.dedupe_key))].append(pledge)
    losers = []
    for group in groups.values():
        group.sort(key=lambda p: (STATUS_RANK.get(p.status, len(STATUS_RANK)), p.created_at, p.pk))
        losers += group[1:]
    erase(apps, losers)
    gone = {pledge.pk for pledge in losers}
    staying = [(pk, key) for pk, key in moving.items() if pk not in gone]
    table = Pledge._meta.db_table
    # Through placeholders: one pledge's new key may still be another's old one until
    # that one moves too, and the unique key (campaign, dedupe_key) is checked per row.
    write_column(schema_editor, table, "dedupe_key", [(pk, f"migrating-{pk}") for pk, _ in staying])
    write_column(schema_editor, table, "dedupe_key", staying)


def erase(apps, pledges: list) -> None:
    """Delete pledges as pledger_data_erase does."""
    if not pledges:
        return
    Pledge = apps.get_model("pledges", "Pledge")
    ModerationEvent = apps.get_model("pledges", "ModerationEvent")
    TotalShard = apps.get_model("pledges", "TotalShard")
    for pledge in pledges:
        if pledge.status != "published":
            continue
        # The counters are sums over shards: one less on shard 0 keeps each sum exact.
        keys = total_keys_for(sector_mask=pledge.sector_mask, region=pledge.region, kind=pledge.kind)
        for key in keys:
            shard, _ = TotalShard.objects.get_or_create(campaign_id=pledge.campaign_id, key=key, shard=0)
            TotalShard.objects.filter(pk=shard.pk).update(value=F("value") - 1)
    ids = [pledge.pk for pledge in pledges]
    ModerationEvent.objects.filter(pledge_id__in=ids).update(pledge=None, reason_text="")
    # Reports, tags, owed emails and reminder deliveries go with them (CASCADE). A
    # reminder run already planned is never planned again, so no reminder goes twice.
    Pledge.objects.filter(pk__in=ids).delete()


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
        ("pledges", "0012_outbox_failed_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="pledge",
            name="email_canonical",
            field=models.CharField(default="", editable=False, max_length=320),
            preserve_default=False,
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop, elidable=False),
        migrations.RemoveIndex(model_name="pledge", name="pledge_email_upper_idx"),
        migrations.RemoveIndex(model_name="pledge", name="pledge_reminders_idx"),
        migrations.AddIndex(
            model_name="pledge",
            index=models.Index(fields=["email_canonical"], name="pledge_email_canonical_idx"),
        ),
        migrations.AddIndex(
            model_name="pledge",
            index=models.Index(
                condition=models.Q(("status", "published"), ("wants_reminders", True)),
                fields=["campaign", "email_canonical"],
                name="pledge_reminders_idx",
            ),
        ),
    ]
