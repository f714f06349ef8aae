# Organisations typed before the directory existed become suggestions organisers accept or map
# (issue 18): every distinct non-empty Pledge.organisation, folded by suggestion_name_key
# (case, spaces, trailing dots and commas, one trailing "Ltd"/"Limited"), makes one
# OrganisationSuggestion named as most of its pledges typed it (ties: the earliest typing),
# and those pledges point at it. The typed text itself stays on every pledge.
#
# Sized for a million pledges: one GROUP BY over the typed names, suggestions made in
# batches, then on PostgreSQL one UPDATE joining a temporary table of (name, suggestion);
# elsewhere one UPDATE per batch of names. Reversing unsets every pledge's suggestion and
# deletes the suggestions.

from django.db import migrations
from django.db.models import Case, Count, Min, Value, When

# The one folding rule, shared with the form that makes suggestions from now on: a copy here
# could drift from it and split one organisation's old and new pledges. It is a pure
# function of a string, so the migration stays repeatable.
from organisations.models import suggestion_name_key

BATCH = 2000


def typed_names(Pledge):
    """{name_key: {typed name: pledges}}, typings in the order they were first made."""
    rows = (
        Pledge.objects.filter(org__isnull=True, org_suggestion__isnull=True)
        .exclude(organisation="")
        .values("organisation")
        .annotate(n=Count("id"), first=Min("id"))
        .order_by("first")
    )
    by_key = {}
    for row in rows.iterator(chunk_size=BATCH):
        key = suggestion_name_key(row["organisation"])
        if key:
            by_key.setdefault(key, {})[row["organisation"]] = row["n"]
    return by_key


def suggestions_made(Suggestion, by_key):
    """{name_key: suggestion id}, making the suggestions missing."""
    ids = {}
    keys = list(by_key)
    for start in range(0, len(keys), BATCH):
        batch = keys[start : start + BATCH]
        ids.update(Suggestion.objects.filter(name_key__in=batch).values_list("name_key", "id"))
        new = []
        for key in batch:
            if key not in ids:
                typings = by_key[key]
                # max() keeps the first of equals: the earliest typing wins a tie.
                name = max(typings, key=lambda typed: typings[typed])
                new.append(Suggestion(name_key=key, name=" ".join(name.split())[:200], status="open"))
        Suggestion.objects.bulk_create(new, batch_size=BATCH)
        ids.update(Suggestion.objects.filter(name_key__in=batch).values_list("name_key", "id"))
    return ids


def point_with_temporary_table(Pledge, schema_editor, pairs):
    quote = schema_editor.connection.ops.quote_name
    table = quote(Pledge._meta.db_table)
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE changeday_typed_organisation "
            "(name varchar(200) PRIMARY KEY, suggestion_id bigint)"
        )
        for start in range(0, len(pairs), BATCH):
            cursor.executemany(
                "INSERT INTO changeday_typed_organisation (name, suggestion_id) VALUES (%s, %s)",
                pairs[start : start + BATCH],
            )
        cursor.execute("ANALYZE changeday_typed_organisation")
        cursor.execute(
            f"UPDATE {table} AS pledge SET org_suggestion_id = typed.suggestion_id "
            "FROM changeday_typed_organisation AS typed "
            "WHERE pledge.organisation = typed.name "
            "AND pledge.org_id IS NULL AND pledge.org_suggestion_id IS NULL"
        )
        cursor.execute("DROP TABLE changeday_typed_organisation")


def point_in_batches(Pledge, pairs):
    for start in range(0, len(pairs), BATCH):
        batch = pairs[start : start + BATCH]
        Pledge.objects.filter(
            organisation__in=[name for name, _ in batch], org__isnull=True, org_suggestion__isnull=True
        ).update(org_suggestion_id=Case(*(When(organisation=name, then=Value(sid)) for name, sid in batch)))


def suggestions_from_typed_names(apps, schema_editor, *, temporary_table=None):
    Pledge = apps.get_model("pledges", "Pledge")
    Suggestion = apps.get_model("organisations", "OrganisationSuggestion")
    by_key = typed_names(Pledge)
    ids = suggestions_made(Suggestion, by_key)
    pairs = [(typed, ids[key]) for key, typings in by_key.items() for typed in typings]
    if temporary_table is None:
        temporary_table = schema_editor.connection.vendor == "postgresql"
    if temporary_table:
        point_with_temporary_table(Pledge, schema_editor, pairs)
    else:
        point_in_batches(Pledge, pairs)


def suggestions_removed(apps, schema_editor):
    Pledge = apps.get_model("pledges", "Pledge")
    Suggestion = apps.get_model("organisations", "OrganisationSuggestion")
    Pledge.objects.filter(org_suggestion__isnull=False).update(org_suggestion=None)
    Suggestion.objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("organisations", "0001_initial"),
        ("pledges", "0019_organisations"),
    ]

    operations = [
        migrations.RunPython(suggestions_from_typed_names, suggestions_removed),
    ]
