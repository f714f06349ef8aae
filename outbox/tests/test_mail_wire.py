"""What outbox.mailsession puts on the wire is the email package's own rendering of
Django's message, byte for byte, however its headers are written (it only takes a shorter way
for headers that need no folding or encoding)."""

from __future__ import annotations

import email
import re

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import sanitize_address
from hypothesis import example, given, settings
from hypothesis import strategies as st

from outbox.mailsession import _as_bytes, _recipient


def _message(subject: str, to: str, *, html: bool = True) -> EmailMessage:
    message = EmailMultiAlternatives(
        subject=subject,
        body="Thank you for pledging.\nConfirm: https://pledge.example.org/p/confirm/abc/\n",
        from_email="Change Day <pledges@changeday.example.org>",
        to=[to],
        headers={"List-Unsubscribe": "<https://pledge.example.org/reminders/stop/" + "x" * 90 + "/>"},
    )
    if html:
        message.attach_alternative("<p>Thank you for pledging.</p>", "text/html")
    return message


@pytest.mark.parametrize(
    ("subject", "to"),
    [
        ("Confirm your pledge", "nurse@example.org"),
        ("Confirm your pledge for NHS Change Day: one click and it is on the wall", "a@example.org"),
        ("Bekräfta ditt löfte — Change Day", "Zoë Ångström <zoe@example.org>"),
        ("A subject  with  doubled spaces\tand a tab", "carer@example.org"),
        ("x" * 120, "long@example.org"),
    ],
)
@pytest.mark.parametrize("html", [True, False])
def test_the_wire_bytes_are_the_email_package_s_own(subject: str, to: str, html: bool) -> None:
    message = _message(subject, to, html=html)
    sent = _as_bytes(message)
    mime = message.message()
    boundary = re.search(rb'boundary="([^"]+)"', sent)
    if boundary:
        mime.set_boundary(boundary.group(1).decode())
    # Date and Message-ID are made per rendering: take the ones that went out.
    parsed = email.message_from_bytes(sent)
    for name in ("Date", "Message-ID"):
        mime.replace_header(name, parsed[name])
    assert sent == mime.as_bytes(linesep="\r\n")
    assert parsed["To"] and parsed["Subject"]


_ADDRESS_CHARS = "abcXYZ019.-_+!#$%&'*/=?^`{|}~@ \"<>()[]:;,\\é"


@settings(max_examples=3000, deadline=None)
@example("nurse@" + "a" * 63 + ".org")
@example("nurse@" + "a" * 64 + ".org")
@example("first.last+change-day@Example.NHS.uk")
@given(
    st.one_of(
        st.text(alphabet=_ADDRESS_CHARS, min_size=1, max_size=40),
        st.builds(
            "{}@{}.{}".format,
            st.text(alphabet=_ADDRESS_CHARS, min_size=1, max_size=20),
            st.text(alphabet="abc-09Aé", min_size=1, max_size=70),
            st.sampled_from(["org", "co.uk", "NHS.UK", "x-y"]),
        ),
    )
)
def test_recipients_go_out_as_django_would_send_them(address: str) -> None:
    try:
        expected = sanitize_address(address, "utf-8")
    except Exception as refused:  # noqa: BLE001 - whatever Django raises, ours must raise too
        with pytest.raises(type(refused)):
            _recipient(address, "utf-8")
    else:
        assert _recipient(address, "utf-8") == expected
