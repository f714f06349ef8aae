"""Run one statement on PostgreSQL and do something the moment it is on the wire.

`execute_then` writes a statement to the server and, before waiting for its
answer, calls `then`. A process killed after that point has already handed both
writes to the kernel, which sends them even as the process dies; killed before
it, neither went. outbox/mailsession.py uses it to put "sent" and SMTP's final dot
on the wire back to back, so no crash can leave one without the other.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from django.db import DatabaseError, connection

if TYPE_CHECKING:
    from psycopg.pq.abc import PGconn


def execute_then(sql: str, params: Sequence[str], then: Callable[[], None]) -> int:
    """The number of rows the statement changed. Outside a transaction block
    (autocommit) the statement has committed when this returns."""
    started = time.monotonic()
    connection.ensure_connection()
    # psycopg's own errors (the server gone mid-batch) become Django's
    # DatabaseError, and mark the connection for Django to replace, as a cursor's do.
    with connection.wrap_database_errors:
        pgconn = connection.connection.pgconn
        pgconn.send_query_params(sql.encode(), [value.encode() for value in params])
        while pgconn.flush():
            select.select([], [pgconn.socket], [], 5)
        try:
            then()
        finally:
            # Even when `then` failed: the statement is on its way and runs, and
            # its answer must be read before Django's next query can be sent.
            rows, error = _answer(pgconn)
    if connection.queries_logged:
        # Counted with the ORM's statements (DEBUG, CaptureQueriesContext in tests).
        connection.queries_log.append({"sql": sql, "time": f"{time.monotonic() - started:.3f}"})
    if error:
        raise DatabaseError(error)
    return rows


def _answer(pgconn: PGconn) -> tuple[int, str]:
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [], 5)
        pgconn.consume_input()
    rows, error = 0, ""
    while (result := pgconn.get_result()) is not None:
        if result.error_message:
            error = result.error_message.decode(errors="replace")
        rows = result.command_tuples or rows
    return rows, error
