"""Which mail errors are a refusal for good: one rule, shared by the outbox and reminders."""

from __future__ import annotations

import smtplib

import pytest

from outbox.mailsession import is_permanent_refusal, mail_error_text


@pytest.mark.parametrize(
    ("error", "permanent"),
    [
        (smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 No such mailbox")}), True),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (451, b"4.3.0 Try again later")}), False),
        (smtplib.SMTPRecipientsRefused({"a@example.org": (421, b"4.3.2 Shutting down")}), False),
        (smtplib.SMTPSenderRefused(553, b"5.7.1 Sender not allowed", "us@example.org"), True),
        (smtplib.SMTPSenderRefused(452, b"4.3.1 Out of memory", "us@example.org"), False),
        (smtplib.SMTPDataError(554, b"5.7.1 Rejected as spam"), True),
        (smtplib.SMTPDataError(451, b"4.7.1 Greylisted"), False),
        # Our own set-up is wrong: every email would fail alike until it is fixed.
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 Bad credentials"), False),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), False),
        (ConnectionRefusedError(111, "Connection refused"), False),
    ],
)
def test_only_a_5xx_refusal_of_a_message_is_permanent(error: Exception, permanent: bool) -> None:
    assert is_permanent_refusal(error) is permanent


def test_the_recorded_error_gives_the_servers_code_and_words() -> None:
    refused = smtplib.SMTPRecipientsRefused({"a@example.org": (550, b"5.1.1 No such mailbox")})
    assert mail_error_text(refused) == "SMTPRecipientsRefused: 550 5.1.1 No such mailbox"
    assert mail_error_text(smtplib.SMTPDataError(554, b"5.7.1 Spam")) == "SMTPDataError: 554 5.7.1 Spam"
