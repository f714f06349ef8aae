"""The benchmark's SMTP sink, in a process of its own: `python bench/sink.py PORT`.

It stands in for the mail provider, which on the day runs on someone else's machines. Apart from
the harness, its CPU time can be read on its own (bench/run.py reports it per pledge) and it does
not share a scheduler group with wrk.

aiosmtpd serves SMTP on 127.0.0.1:PORT, offering PIPELINING as the large providers do, and counts
every message by recipient and Message-ID. The harness asks over stdin, one command a line, and
each answer is one JSON line on stdout:

    reset   forget everything counted  -> {}
    count   messages so far            -> {"messages": N}
    report  the whole count            -> {"messages": N, "recipients": distinct,
                                           "recipients_twice": N, "message_ids_twice": N}
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections import Counter
from typing import Any

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.recipients: Counter[str] = Counter()
            self.message_ids: Counter[str] = Counter()
            self.messages = 0

    def report(self) -> dict[str, int]:
        with self._lock:
            return {
                "messages": self.messages,
                "recipients": len(self.recipients),
                "recipients_twice": sum(1 for n in self.recipients.values() if n > 1),
                "message_ids_twice": sum(1 for n in self.message_ids.values() if n > 1),
            }

    async def handle_EHLO(  # noqa: N802 - aiosmtpd's name
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        # Offered as the mail providers a production site sends through offer it (RFC 2920).
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message_id = None
        for line in envelope.content.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"message-id:"):
                message_id = line.split(b":", 1)[1].strip().decode()
        with self._lock:
            self.messages += 1
            self.recipients.update(envelope.rcpt_tos)
            if message_id is not None:
                self.message_ids[message_id] += 1
        return "250 OK"


def main() -> None:
    # aiosmtpd logs every connection at INFO: 100,000 lines for the reminder run.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=int(sys.argv[1]))
    controller.start()
    answers = {"reset": lambda: sink.reset() or {}, "count": lambda: {"messages": sink.messages}}
    answers["report"] = sink.report
    print(json.dumps({"ready": True}), flush=True)
    try:
        for line in sys.stdin:
            print(json.dumps(answers[line.strip()]()), flush=True)
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
