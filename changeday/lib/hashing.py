"""Keyed hashes for identifiers we must compare but never keep (client IPs,
session keys): a database leak gives out no address."""

from __future__ import annotations

import hashlib
import hmac

from django.conf import settings


def keyed_hash(value: str, *, purpose: str) -> str:
    key = hashlib.sha256(f"changeday.{purpose}.{settings.SECRET_KEY}".encode()).digest()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
