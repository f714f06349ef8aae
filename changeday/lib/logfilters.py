"""Keeping the secrets of emailed links out of logs.

A confirm, withdraw, outcome, unsubscribe, "your data", remind-me or password-reset link
acts for whoever holds it, and a log line is read by more people, and kept for
longer, than an inbox. Django logs the path of every 4xx and 5xx response
("Not Found: /pledges/confirm/<token>/"), the development server every request
line, gunicorn (changeday/gunicorn_conf.py) every request line and referrer.

`RedactTokens` is attached to every handler settings.LOGGING configures, to the
Celery worker's handlers (changeday/celery.py) and to gunicorn's loggers; it
rewrites a record's message with each token replaced by REDACTED.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"

# One path segment, raw or percent-encoded, as far as the next slash, query,
# fragment, space or quote (a request line, a referrer, a repr).
_SEGMENT = r"[^/?#\s\"'<>]+"
# Where our URLconf puts a token (pledges/urls.py, reminders/urls.py, and
# django.contrib.auth's reset/<uidb64>/<token>/), matched wherever the site is mounted.
# "sent" and "set-password" are pages of their own, not tokens.
_TOKEN_IN_PATH = re.compile(
    rf"(/(?:pledges/confirm|pledges/withdraw|pledges/outcome|your-data|reminders/confirm|reminders/unsubscribe|reminders/stop-all)/)"
    rf"(?!sent(?:[/?#\s\"']|$)){_SEGMENT}"
)
_RESET_IN_PATH = re.compile(rf"(/reset/){_SEGMENT}/(?!set-password(?:[/?#\s\"']|$)){_SEGMENT}")
# The safety net, for a token wherever it appears: django.core.signing's
# value:timestamp:signature (":" perhaps percent-encoded), whose signature is at
# least 27 characters of URL-safe base64, and a password-reset token, a base-36
# timestamp, a dash and 32 hex digits. A colon-separated run is matched whole and
# its last part checked in Python: a pattern demanding the long last part itself
# backtracks over every part, quadratic in a long "a:a:a:..." message.
_COLON_RUN = re.compile(r"(?<![\w.\-])[\w.\-]+(?:(?::|%3[aA])[\w\-]+)+")
_COLON = re.compile(r":|%3[aA]")
_SIGNATURE = re.compile(r"[A-Za-z0-9_\-]{27,}")
_RESET_TOKEN = re.compile(r"\b[0-9a-z]{1,13}-[0-9a-f]{32}\b")


def _signed(match: re.Match[str]) -> str:
    return REDACTED if _SIGNATURE.fullmatch(_COLON.split(match[0])[-1]) else match[0]


def redact(text: str) -> str:
    """`text` with every token of a signed link replaced by REDACTED."""
    text = _TOKEN_IN_PATH.sub(rf"\1{REDACTED}", text)
    text = _RESET_IN_PATH.sub(rf"\1{REDACTED}/{REDACTED}", text)
    text = _COLON_RUN.sub(_signed, text)
    return _RESET_TOKEN.sub(REDACTED, text)


class RedactTokens(logging.Filter):
    """Rewrites each record it sees: message, traceback and stack.

    The record is rendered (message % args) and its args dropped only when a token was
    found, so ordinary records keep their args for any handler that reads them.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            # A malformed call: the handler reports it as logging always does.
            return True
        redacted = redact(message)
        if redacted != message:
            record.msg, record.args = redacted, ()
        if record.exc_info and not record.exc_text:
            # A formatter would render the traceback after every filter has run.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
