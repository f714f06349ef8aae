"""A PostgreSQL read replica for the public lists, and the primary for the rest.

Routing is explicit: a read goes to the replica only where a selector asks for
`replica_or_primary()` with `.using()`, and those are the public pledge lists
(the wall, the API's pledges and campaigns, the feeds, the statistics page)
that may lag the primary by a moment without anyone noticing. Everything else,
the live totals (TotalShard) above all, reads the primary: a total read from a
replica could go backwards between two reloads, and a moderation page must
show the decision just made. The router below only keeps writes, relations and
migrations safe once replica rows are in play.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dj_database_url
from django.db import DEFAULT_DB_ALIAS, connections

if TYPE_CHECKING:
    # Not at run time: settings.py imports this module before the ORM is set up.
    from django.db.models import Model

REPLICA = "replica"


def replica_database(url: str, *, conn_max_age: int) -> dict[str, Any]:
    """The DATABASES entry of the replica (DATABASE_REPLICA_URL)."""
    config = dj_database_url.parse(url, conn_max_age=conn_max_age, conn_health_checks=True)
    # In tests the replica is the test database seen through a second
    # connection: no database is created for it, and only committed rows show,
    # as on a real replica.
    config["TEST"] = {"MIRROR": DEFAULT_DB_ALIAS}
    return config


def replica_or_primary() -> str:
    """The alias for a public list read: the replica when there is one."""
    if REPLICA not in connections.settings:
        return DEFAULT_DB_ALIAS
    # Inside a transaction on the primary, a read must see that transaction's
    # own writes, which no replica has yet.
    if connections[DEFAULT_DB_ALIAS].in_atomic_block:
        return DEFAULT_DB_ALIAS
    return REPLICA


class PrimaryReplicaRouter:
    """No read is sent anywhere implicitly (db_for_read says nothing, so a plain
    query uses the primary and a related lookup follows the row it starts from)."""

    def db_for_read(self, model: type[Model], **hints: Any) -> str | None:
        return None

    def db_for_write(self, model: type[Model], **hints: Any) -> str:
        # A row read from the replica and then saved must go to the primary:
        # without this, Django writes back to the database the row came from.
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Model, obj2: Model, **hints: Any) -> bool | None:
        # Both aliases hold the same rows, so a replica row may be linked to a
        # primary one (a campaign read for the wall, used by a new pledge).
        if {obj1._state.db, obj2._state.db} <= {DEFAULT_DB_ALIAS, REPLICA}:
            return True
        return None

    def allow_migrate(
        self, db: str, app_label: str, model_name: str | None = None, **hints: Any
    ) -> bool | None:
        # The replica follows the primary's schema through replication;
        # `migrate --database replica` must do nothing.
        return False if db == REPLICA else None
