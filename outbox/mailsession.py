"""Sending many emails over one connection so that a crash never sends one twice.

A sender that records "sent" after the SMTP server accepts a message has a
window, between the server's 250 and the record's commit, where a killed
process leaves a message delivered but unrecorded; a retry then sends it again.
SMTP closes that window for us: a server keeps a message only once it has read
the final "." of DATA, and discards it when the connection drops before. So we
send the whole message except that dot, then the `on_accepting` callback writes
"sent" to the database and, before waiting for the database's answer, the dot
(outbox/pgsend.py). A crash before those two writes leaves the message unrecorded
and undelivered; after them, both are in the kernel's socket buffers and go out
even as the process dies. What is left is the few microseconds between the two
writes.

Other backends (files under `make run`, memory in tests) have no such dot: there
the callback runs after the backend has the message.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import random
import re
import smtplib
import socket
import sys
import time
from collections.abc import Callable
from datetime import datetime
from email.generator import BytesGenerator
from email.message import Message
from email.policy import Compat32
from types import TracebackType

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.smtp import EmailBackend as SMTPBackend
from django.core.mail.message import sanitize_address
from django.db import connection as db
from django.db.models import Model

from outbox.pgsend import execute_then

logger = logging.getLogger(__name__)

# Errors a later attempt can get past: the mail server busy, down or slow.
TEMPORARY_MAIL_ERRORS = (smtplib.SMTPException, OSError, TimeoutError)
# The server refused one message (a recipient, the sender, the data) and the
# connection is still good for the next one.
MAIL_REFUSALS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError)

# Dot-stuffing (RFC 5321 4.5.2): a line starting with "." gets another.
_LEADING_DOT = re.compile(rb"(?m)^\.")


class MailSession:
    """One connection to the mail backend, reused for a batch of messages."""

    def __init__(self) -> None:
        self.backend = get_connection(fail_silently=False)
        self._open = False

    def __enter__(self) -> MailSession:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._open:
            # Closing a connection that already broke must not fail the batch.
            with contextlib.suppress(Exception):
                self.backend.close()
            self._open = False

    @property
    def connected(self) -> bool:
        """False before the first message, and once the connection broke or the
        server closed it; the next message then opens a new one."""
        return self._open

    def send(self, message: EmailMessage, *, on_accepting: Callable[[Callable[[], None]], None]) -> None:
        """Send one message. on_accepting(send_dot) records it as sent and calls
        send_dot the moment the record is on its way (or leaves it to us, after
        it returns). Raises the transport's error if it was not accepted."""
        if not self._open:
            self.backend.open()
            self._open = True
            sock = getattr(getattr(self.backend, "connection", None), "sock", None)
            if sock is not None:
                # The final dot is a tiny write after the body: with Nagle's
                # algorithm it waits for the server's delayed ACK, 40 ms a message.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.backend, SMTPBackend):
            try:
                self._send_smtp(message, on_accepting)
            except smtplib.SMTPServerDisconnected:
                self._abort()
                raise
            except smtplib.SMTPException:
                # A refusal of this message; the connection is still good
                # unless the refusal was a 421 (see _refused).
                raise
            except OSError:
                # The connection is gone (SMTPException is an OSError too, hence
                # the clause above); the next message opens a new one.
                self._abort()
                raise
            return
        self.backend.send_messages([message])
        on_accepting(lambda: None)

    def _abort(self) -> None:
        connection = getattr(self.backend, "connection", None)
        if connection is not None and connection.sock is not None:
            connection.sock.close()
        self.backend.connection = None
        self._open = False

    def _send_smtp(self, message: EmailMessage, on_accepting: Callable[[Callable[[], None]], None]) -> None:
        connection: smtplib.SMTP = self.backend.connection
        encoding = message.encoding or settings.DEFAULT_CHARSET
        sender = _sender(message.from_email, encoding)
        recipients = [_recipient(address, encoding) for address in message.recipients()]
        body = _as_bytes(message)

        connection.ehlo_or_helo_if_needed()
        replies = self._envelope(connection, sender, recipients)
        # A refusal after a pipelined DATA was taken (354) leaves the server reading the message:
        # only dropping the connection, before any dot, ends that without delivering it.
        in_data = len(replies) == len(recipients) + 2 and replies[-1][0] == 354
        code, reply = replies[0]
        if code != 250:
            self._refused(connection, code, in_data=in_data)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        for recipient, (code, reply) in zip(recipients, replies[1:], strict=False):
            if code not in (250, 251):
                self._refused(connection, code, in_data=in_data)
                raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        code, reply = replies[-1]
        if code != 354:
            self._refused(connection, code, in_data=False)
            raise smtplib.SMTPDataError(code, reply)
        payload = _LEADING_DOT.sub(b"..", body)
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        connection.send(payload)
        dot_sent = False

        def send_dot() -> None:
            nonlocal dot_sent
            connection.send(b".\r\n")
            dot_sent = True

        try:
            on_accepting(send_dot)
        except BaseException:
            if not dot_sent:
                # Not recorded, so it must not be delivered: drop the connection
                # without the final dot and the server discards the message.
                self._abort()
            else:
                connection.getreply()  # keep the conversation in step
            raise
        if not dot_sent:
            send_dot()
        code, reply = connection.getreply()
        if code != 250:
            if code == 421:
                self._abort()
            raise smtplib.SMTPDataError(code, reply)

    def _envelope(
        self, connection: smtplib.SMTP, sender: str, recipients: list[str]
    ) -> list[tuple[int, bytes]]:
        """MAIL, each RCPT and DATA, and the server's replies to them in order.

        A server that offers PIPELINING (RFC 2920, as the large mail providers do) gets them in one
        write and answers them together: one round trip a message instead of two plus one per
        recipient, which is most of a message's time over a real network. Without it each command
        waits for its reply, and the first refusal ends the list."""
        commands = [f"mail FROM:{smtplib.quoteaddr(sender)}"]
        commands += [f"rcpt TO:{smtplib.quoteaddr(recipient)}" for recipient in recipients]
        commands.append("data")
        if connection.has_extn("pipelining"):
            connection.send("".join(f"{command}\r\n" for command in commands))
            return [connection.getreply() for _ in commands]
        accepted = [(250,)] + [(250, 251)] * len(recipients) + [(354,)]
        replies = []
        for command, codes in zip(commands, accepted, strict=True):
            connection.send(f"{command}\r\n")
            replies.append(connection.getreply())
            if replies[-1][0] not in codes:
                break
        return replies

    def _refused(self, connection: smtplib.SMTP, code: int, *, in_data: bool) -> None:
        """End the refused transaction. 421 is the server closing the channel
        (RFC 5321 3.8), which smtplib's own sendmail drops too; after any other
        refusal the connection is good for the next message."""
        if code == 421 or in_data:
            self._abort()
        else:
            connection.rset()


@functools.lru_cache(maxsize=16)
def _sender(address: str, encoding: str) -> str:
    # The same From on every message: parsed once, not once a message.
    return sanitize_address(address, encoding)


# A bare address whose local part is a dot-atom (RFC 5322) and whose domain is plain ASCII labels:
# what nearly every pledger types. Django's sanitize_address parses it with the email package's
# header parser only to give it back unchanged.
_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)


def _recipient(address: str, encoding: str) -> str:
    if _PLAIN_ADDRESS.fullmatch(address):
        return address
    return sanitize_address(address, encoding)


class _Compat32Wire(Compat32):
    """The email package's compat32 policy, as Django's messages use it, on the wire.

    compat32 folds every header through email.header.Header, which costs more than the rest of a
    header's work, and a good share of an email's CPU (bench/README.md). A header of plain ASCII
    that fits on one line folds to itself, so it is written as it is; any other goes the long way.
    """

    def fold_binary(self, name: str, value: object) -> bytes:
        if (
            isinstance(value, str)
            and len(name) + 2 + len(value) <= (self.max_line_length or 78)
            and value.isascii()
            and "\r" not in value
            and "\n" not in value
        ):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_WIRE = _Compat32Wire(linesep="\r\n")


def _flatten(mime: Message) -> bytes:
    # As Django's as_bytes() does, with our policy.
    out = io.BytesIO()
    BytesGenerator(out, mangle_from_=False, policy=_WIRE).flatten(mime)
    return out.getvalue()


def _as_bytes(message: EmailMessage) -> bytes:
    """The message as it goes on the wire.

    For a multipart message the email package picks a random boundary and
    compiles a regular expression, new each time, to check that no part
    contains it: a good share of the MIME work of a message. We set one of
    the same form and check by counting its delimiters instead."""
    mime = message.message()
    if not mime.is_multipart() or mime.get_boundary() is not None:
        return _flatten(mime)
    while True:
        boundary = f"{'=' * 15}{random.randrange(sys.maxsize):019d}=="
        mime.set_boundary(boundary)
        body = _flatten(mime)
        # One delimiter before each part and the closing one: any more is in a part.
        if body.count(b"--" + boundary.encode()) == len(mime.get_payload()) + 1:
            return body


def is_permanent_refusal(error: BaseException) -> bool:
    """A 5xx refusal of a message (no such mailbox, a policy refusal): RFC 5321 4.2.1 says the
    same request will get the same answer, so a retry only knocks on the same door.

    Only refusals of the message itself: a 5xx to our greeting or login says our own set-up is
    wrong, and every email would fail alike until someone fixes it, so those stay temporary."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return bool(codes) and all(code >= 500 for code in codes)
    if isinstance(error, smtplib.SMTPSenderRefused | smtplib.SMTPDataError):
        return error.smtp_code >= 500
    return False


def mail_error_text(error: BaseException) -> str:
    """The error as organisers read it in the admin: the server's code and its words."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        replies = "; ".join(f"{code} {_reply_text(reply)}" for code, reply in error.recipients.values())
        text = f"{type(error).__name__}: {replies}"
    elif isinstance(error, smtplib.SMTPResponseException):
        text = f"{type(error).__name__}: {error.smtp_code} {_reply_text(error.smtp_error)}"
    else:
        text = f"{type(error).__name__}: {error}"
    return text[:2000]


def _reply_text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)


class ClaimLost(Exception):
    """Another worker took this message over: it must not be delivered from here."""


def record_sent(
    *,
    model: type[Model],
    pk: int,
    claim: dict[str, object],
    values: dict[str, object],
    send_dot: Callable[[], None],
    what: str,
) -> bool:
    """The on_accepting of a message whose row a worker has claimed: record it
    as sent and release SMTP's final dot in the same breath. True if this
    worker's record was written.

    pk and claim: the message's row, matched only while this worker's claim on it holds
    (model.objects.filter(pk=pk, **claim)); values: the fields that mark it sent
    (.update(**values))."""
    if db.vendor == "postgresql":
        # The UPDATE and the dot go on the wire back to back (outbox/pgsend.py): no
        # crash can commit "sent" without the message, or the message without it.
        if execute_then(*sent_statement(model, {"pk": pk, **claim}, values), then=send_dot) == 1:
            return True
        # Our claim lapsed (a batch ran past its lock) and another worker holds
        # the row: this copy has gone too. Logged, as it may be a duplicate.
        logger.warning("%s was claimed by another worker while it was sent", what)
        return False
    if model._default_manager.filter(pk=pk, **claim).update(**values) != 1:
        # Our claim lapsed and another worker holds the row now: raising here
        # drops the connection before the final dot, so this copy is discarded.
        raise ClaimLost(f"{what} was claimed by another worker")
    return True


def sent_statement(
    model: type[Model], match: dict[str, object], values: dict[str, object]
) -> tuple[str, list[str]]:
    """model.objects.filter(**match).update(**values) written out for libpq: $1, $2...
    placeholders and the parameters as text, PostgreSQL taking each one's type from its column.

    Written here from the model's public _meta API, for the only shapes a "sent" record needs:
    a field equal to a value, None (IS NULL), or `<field>__isnull=True`. pgsend sends it with
    psycopg's low-level API, which the ORM's cursor cannot do."""
    params: list[str] = []
    quote = db.ops.quote_name

    def place(field_name: str, value: object) -> str:
        field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
        params.append(_as_text(field.get_db_prep_save(value, db)))
        return f"${len(params)}"

    def column(field_name: str) -> str:
        field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
        return quote(field.column)

    changes = [
        f"{column(name)} = NULL" if value is None else f"{column(name)} = {place(name, value)}"
        for name, value in values.items()
    ]
    conditions = []
    for lookup, value in match.items():
        name, _, test = lookup.partition("__")
        if test == "isnull":
            conditions.append(f"{column(name)} IS {'' if value else 'NOT '}NULL")
        elif test:
            raise ValueError(f"No lookup {test!r} in a sent record")
        elif value is None:
            conditions.append(f"{column(name)} IS NULL")
        else:
            conditions.append(f"{column(name)} = {place(name, value)}")
    sql = f"UPDATE {quote(model._meta.db_table)} SET {', '.join(changes)} WHERE {' AND '.join(conditions)}"
    return sql, params


def _as_text(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class Throttle:
    """At most `rate` sends a second from this process: a mail provider's limit
    is per account, so each worker keeps well under its share.

    A send that runs late (a batch's claim and connection, a slow answer) leaves a
    little credit, a tenth of a second's worth of sends, which the next sends use up
    by going at once: without it every delay is lost for good and a worker averages
    well under its rate. Within any span of T seconds a worker sends at most
    rate x (T + 0.1) + 1."""

    CREDIT_SECONDS = 0.1

    def __init__(
        self,
        rate: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._credit = self.CREDIT_SECONDS if rate > 0 else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next = clock()

    def wait(self) -> None:
        if not self.interval:
            return
        now = self._clock()
        if now < self._next:
            self._sleep(self._next - now)
            now = self._next
        # Idle time earns no more than the credit: after a pause the sends go at the
        # steady rate once the credit is spent.
        self._next = max(self._next, now - self._credit) + self.interval
