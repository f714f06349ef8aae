"""Run one statement on PostgreSQL and do something the moment it is on the wire.

`execute_then` writes a statement to the server and, before waiting for its
answer, calls `then`. A process killed after that point has already handed both
writes to the kernel, which sends them even as the process dies; killed before
it, neither went. lib/mailsession.py uses it to put "sent" and SMTP's final dot
on the wire back to back, so no crash can leave one without the other.
"""

from __future__ import annotations

import select
from collections.abc import Callable, Sequence

from django.db import DatabaseError, connection


def execute_then(sql: str, params: Sequence[str], then: Callable[[], None]) -> int:
    """The number of rows the statement changed. Outside a transaction block
    (autocommit) the statement has committed when this returns."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    pgconn.send_query_params(sql.encode(), [value.encode() for value in params])
    while pgconn.flush():
        select.select([], [pgconn.socket], [], 5)
    then()
    while pgconn.is_busy():
        select.select([pgconn.socket], [], [], 5)
        pgconn.consume_input()
    rows, error = 0, ""
    # Read every result, so the connection is ready for Django's next query.
    while (result := pgconn.get_result()) is not None:
        if result.error_message:
            error = result.error_message.decode(errors="replace")
        rows = result.command_tuples or rows
    if error:
        raise DatabaseError(error)
    return rows
