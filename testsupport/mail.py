"""A real SMTP server on loopback for tests: the app sends to it over SMTP, as to a provider."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller

from testsupport.processes import free_port


class Inbox:
    """What a real SMTP server on loopback received, and how it answers (aiosmtpd handler)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._arrived = threading.Condition()
        # Address -> SMTP reply, to play a mail server refusing a recipient
        # ("451 4.3.0 Try again later", "550 5.1.1 No such mailbox").
        self.refuse: dict[str, str] = {}
        # The same, for the address's next RCPT only: a server busy for a moment.
        self.refuse_once: dict[str, str] = {}
        # The client's (host, port) of each message: one port per SMTP connection.
        self.peers: list[Any] = []
        # Offer PIPELINING (RFC 2920), as large mail providers do; for each RCPT, whether the
        # client's DATA had already arrived with it, i.e. the envelope came in one write.
        self.pipelining = False
        self.data_arrived_with_rcpt: list[bool] = []

    async def handle_EHLO(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]] if self.pipelining else responses

    async def handle_RCPT(  # noqa: N802
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        # asyncio keeps what has arrived and not yet been read in the reader's buffer.
        self.data_arrived_with_rcpt.append(b"data\r\n" in bytes(server._reader._buffer).lower())
        if address in self.refuse:
            return self.refuse[address]
        if address in self.refuse_once:
            return self.refuse_once.pop(address)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self._arrived:
            self.messages.append(message)  # type: ignore[arg-type]
            self.peers.append(session.peer)
            self._arrived.notify_all()
        return "250 Message accepted for delivery"

    # Generous: a passing test returns as soon as the mail is in; only a failing one waits it out,
    # and on two shared cores the SQLite pass's file broker can take over 20 s for a batch.
    def wait_for(self, count: int, timeout: float = 60.0) -> list[EmailMessage]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.messages) >= count, timeout=timeout)
        return list(self.messages)


@contextmanager
def inbox_running(*, pipelining: bool = False) -> Iterator[tuple[Inbox, int]]:
    """An Inbox served on a free loopback port, and that port, until the block ends."""
    inbox = Inbox()
    inbox.pipelining = pipelining
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield inbox, controller.port
    finally:
        controller.stop()


def email_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def email_html(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return part.get_content()
