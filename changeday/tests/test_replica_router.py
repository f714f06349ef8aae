"""A read replica (DATABASE_REPLICA_URL) takes the public pledge lists, and
nothing else: live totals, writes and migrations stay on the primary.

In tests the replica is the test database seen through a second connection
(TEST MIRROR), so only committed rows show on it, as on a real replica: these
tests run outside a wrapping transaction for that reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from changeday.lib.dbrouter import REPLICA, replica_database, replica_or_primary
from conftest import create_pledge
from moderation.models import ReportReason
from moderation.services import pledge_report
from pages.stats import stats_cache_key
from pledges.api import counters_cache_forget
from pledges.models import Pledge, TotalShard
from pledges.selectors import WallFilters, totals_cache_key, wall_pledges

ROOT = Path(__file__).resolve().parents[2]
PLEDGES = f'"{Pledge._meta.db_table}"'
SHARDS = f'"{TotalShard._meta.db_table}"'


def _postgres_only(settings_dict: dict[str, Any]) -> None:
    if settings_dict["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a read replica is a PostgreSQL feature (the suite runs on PostgreSQL in CI)")


@pytest.fixture
def replica(transactional_db: None) -> Iterator[str]:
    """The replica alias, configured as settings.py configures it from
    DATABASE_REPLICA_URL, pointing at the test database."""
    primary = connections[DEFAULT_DB_ALIAS].settings_dict
    _postgres_only(primary)
    url = f"postgres://{primary['USER']}@{primary['HOST']}:{primary['PORT']}/{primary['NAME']}"
    configured = connections.configure_settings(
        {DEFAULT_DB_ALIAS: dict(primary), REPLICA: replica_database(url, conn_max_age=0)}
    )
    connections.settings[REPLICA] = configured[REPLICA]
    # Django's test case refuses a first connection to an alias it did not know
    # when the test started; this one arrived after, so it is opened here.
    connections[REPLICA].connect()
    try:
        yield REPLICA
    finally:
        connections[REPLICA].close()
        del connections[REPLICA]
        del connections.settings[REPLICA]


def _fresh_caches(campaign: Any) -> None:
    # The Redis cache outlives a test: these reads must reach a database.
    cache.delete_many([totals_cache_key(campaign), stats_cache_key(campaign.pk)])
    counters_cache_forget(campaign.slug)


def _touching(queries: CaptureQueriesContext, table: str) -> list[str]:
    return [query["sql"] for query in queries.captured_queries if table in query["sql"]]


def test_the_wall_api_feeds_and_stats_read_pledges_from_the_replica_and_totals_from_the_primary(
    replica: str, campaign: Any
) -> None:
    for n in range(3):
        create_pledge(campaign, n)
    _fresh_caches(campaign)
    client = Client()
    slug = campaign.slug
    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[replica]) as replica_queries,
    ):
        wall = client.get(f"/campaigns/{slug}/wall/")
        api = client.get(f"/api/v1/campaigns/{slug}/pledges")
        feed = client.get(f"/campaigns/{slug}/feed/")
        stats = client.get(f"/campaigns/{slug}/stats/")
        counters = client.get(f"/api/v1/campaigns/{slug}/counters")

    assert [wall.status_code, api.status_code, feed.status_code, stats.status_code] == [200] * 4
    assert counters.json()["total"] == 3
    assert "number 2" in wall.content.decode()
    assert len(api.json()["results"]) == 3
    assert "number 1" in feed.content.decode()
    # Every pledge list came from the replica, and none from the primary.
    assert len(_touching(replica_queries, PLEDGES)) >= 4
    assert _touching(primary, PLEDGES) == []
    # The live totals (wall, stats, counters) came from the primary only.
    assert _touching(primary, SHARDS)
    assert _touching(replica_queries, SHARDS) == []


def test_a_pledge_read_from_the_replica_can_be_reported_and_every_write_goes_to_the_primary(
    replica: str, campaign: Any
) -> None:
    create_pledge(campaign, 1)
    shown = wall_pledges(campaign=campaign, filters=WallFilters()).pledges[0]
    assert shown._state.db == replica

    with (
        CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary,
        CaptureQueriesContext(connections[replica]) as replica_queries,
    ):
        assert (
            pledge_report(
                pledge=shown, reporter_key="visitor-1", network_key="network-1", reason=ReportReason.SPAM
            )
            is True
        )

    writes = ("INSERT", "UPDATE", "DELETE")
    assert [sql for sql in primary.captured_queries if sql["sql"].startswith(writes)]
    assert [sql for sql in replica_queries.captured_queries if sql["sql"].startswith(writes)] == []
    assert Pledge.objects.get(pk=shown.pk).report_count == 1
    # Saving the row itself goes to the primary too, not back where it was read.
    assert router.db_for_write(Pledge, instance=shown) == DEFAULT_DB_ALIAS


def test_inside_a_transaction_the_wall_reads_the_primary_and_sees_its_own_writes(
    replica: str, campaign: Any
) -> None:
    with transaction.atomic():
        create_pledge(campaign, 7)
        assert replica_or_primary() == DEFAULT_DB_ALIAS
        page = wall_pledges(campaign=campaign, filters=WallFilters())
        assert [pledge.display_name for pledge in page.pledges] == ["Person 7"]
    assert replica_or_primary() == replica


def test_migrations_never_run_on_the_replica(replica: str) -> None:
    assert router.allow_migrate_model(replica, Pledge) is False
    assert router.allow_migrate_model(DEFAULT_DB_ALIAS, Pledge) is True
    with CaptureQueriesContext(connections[replica]) as replica_queries:
        call_command("migrate", database=replica, verbosity=0)
    ddl = ("CREATE", "ALTER", "DROP")
    assert [query["sql"] for query in replica_queries.captured_queries if query["sql"].startswith(ddl)] == []


@pytest.mark.django_db(transaction=True)
def test_without_a_replica_every_read_uses_the_primary(campaign: Any) -> None:
    create_pledge(campaign, 1)
    _fresh_caches(campaign)
    assert list(connections) == [DEFAULT_DB_ALIAS]
    assert replica_or_primary() == DEFAULT_DB_ALIAS
    with CaptureQueriesContext(connections[DEFAULT_DB_ALIAS]) as primary:
        wall = Client().get(f"/campaigns/{campaign.slug}/wall/")
    assert "Person 1" in wall.content.decode()
    assert _touching(primary, PLEDGES)
    assert _touching(primary, SHARDS)


def _settings_of(**env: str) -> subprocess.CompletedProcess[str]:
    script = (
        "import django; django.setup(); from django.conf import settings as s; "
        "r = s.DATABASES.get('replica'); "
        "print(sorted(s.DATABASES), r and r['NAME'], r and r['TEST']['MIRROR'], s.DATABASE_ROUTERS)"
    )
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "testsupport.settings", **env}
    return subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=environment, capture_output=True, text=True, timeout=60
    )


def test_database_replica_url_adds_a_replica_alias_mirrored_in_tests() -> None:
    result = _settings_of(
        DATABASE_URL="postgres://app@db.internal:5432/changeday",
        DATABASE_REPLICA_URL="postgres://reader@replica.internal:5432/changeday",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        "['default', 'replica'] changeday default ['changeday.lib.dbrouter.PrimaryReplicaRouter']"
    )

    without = _settings_of(DATABASE_URL="postgres://app@db.internal:5432/changeday", DATABASE_REPLICA_URL="")
    assert without.stdout.startswith("['default'] None None")


def test_a_replica_without_a_postgresql_primary_refuses_to_start() -> None:
    result = _settings_of(
        DATABASE_URL="", DATABASE_REPLICA_URL="postgres://reader@replica.internal:5432/changeday"
    )
    assert result.returncode != 0
    assert "set DATABASE_URL to its primary too" in result.stderr
