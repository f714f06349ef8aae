"""Signed, expiring tokens for links sent by email.

The purpose is part of the salt, so a token made for one kind of link (confirm)
can never be replayed as another (withdraw, unsubscribe).
"""

from __future__ import annotations

from datetime import timedelta

from django.core import signing


class InvalidToken(Exception):
    """The token was tampered with, made for another purpose, or is malformed."""


class ExpiredToken(Exception):
    """The token was genuine but is older than its allowed age."""


def _signer(purpose: str) -> signing.TimestampSigner:
    return signing.TimestampSigner(salt=f"changeday.{purpose}")


def make_token(*, purpose: str, value: str) -> str:
    return _signer(purpose).sign(value)


def read_token(*, purpose: str, token: str, max_age: timedelta | None) -> str:
    """The signed value; max_age=None accepts a genuine token of any age."""
    try:
        return _signer(purpose).unsign(token, max_age=max_age)
    except signing.SignatureExpired as exc:
        raise ExpiredToken(str(exc)) from exc
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidToken(str(exc)) from exc
