from django.db import migrations, models

# The wall index and the GIN word index are only read for published pledges, yet
# every new pledge (stored unconfirmed) paid an entry in both, and so did each
# status change before publication. Both become partial on status = 'published'.
#
# New indexes first, old ones dropped after, in one transaction (no CONCURRENTLY,
# as in 0008): each CREATE INDEX holds a SHARE lock on pledges_pledge while it
# builds, which stops writes (new pledges, confirmations) but not reads; the DROPs
# at the end take ACCESS EXCLUSIVE only until the commit that follows. Dropping
# first would leave the wall without an index while the new ones build.

OLD_SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS pledge_text_search_idx ON pledges_pledge "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(text, '')))"
)
# pledges.selectors._word_search builds this expression, and the wall filters on
# status = 'published', so PostgreSQL answers the wall's word search from it.
SEARCH_INDEX = (
    "CREATE INDEX IF NOT EXISTS pledge_search_published_idx ON pledges_pledge "
    "USING gin (to_tsvector('english'::regconfig, COALESCE(text, ''))) "
    "WHERE status = 'published'"
)


# The planner takes no statistics from a partial index's expression (only from a
# whole-table one), so without these it guessed every word in 0.5% of the pledges
# and, for a common word, read the word index and sorted where walking the wall
# index was cheaper (bench/README.md). Statistics cost nothing per insert; ANALYZE
# fills them (the text column alone: 1.9 s at 200,000 pledges, against 3.1 s for
# the whole table), here before the drops below, while reads still go on.
SEARCH_STATISTICS = (
    "CREATE STATISTICS IF NOT EXISTS pledge_text_search_stats "
    "ON (to_tsvector('english'::regconfig, COALESCE(text, ''))) FROM pledges_pledge"
)


def _on_postgresql(*statements):
    # SQLite has no GIN index; the word search there reads the text itself.
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            for sql in statements:
                schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_moderation"),
        ("pledges", "0008_fewer_pledge_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="pledge",
            index=models.Index(
                condition=models.Q(("status", "published")),
                fields=["campaign", "-published_at", "-public_id"],
                name="pledge_wall_published_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="pledge",
            index=models.Index(
                condition=models.Q(("status__in", ["published", "rejected"])),
                fields=["campaign", "status", "-status_changed_at", "-id"],
                name="pledge_review_idx",
            ),
        ),
        migrations.RunPython(
            _on_postgresql(SEARCH_INDEX, SEARCH_STATISTICS, "ANALYZE pledges_pledge (text)"),
            _on_postgresql(
                "DROP STATISTICS IF EXISTS pledge_text_search_stats",
                "DROP INDEX IF EXISTS pledge_search_published_idx",
            ),
        ),
        migrations.RemoveIndex(
            model_name="pledge",
            name="pledge_wall_idx",
        ),
        migrations.RunPython(
            _on_postgresql("DROP INDEX IF EXISTS pledge_text_search_idx"),
            # A whole-table index's expression statistics come only from a full ANALYZE.
            _on_postgresql(OLD_SEARCH_INDEX, "ANALYZE pledges_pledge"),
        ),
    ]
