"""One canonical form per email address, for finding rows by address.

A case-insensitive database comparison (`email__iexact`, UPPER() on PostgreSQL)
folds different Unicode letters together: UPPER('maıl') = UPPER('mail'), so the
owner of a look-alike domain could be matched to someone else's pledges. Rows
keep the address as typed (what we display and send to) and, beside it, this
form, which lookups compare exactly.
"""

from __future__ import annotations

import idna

_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def ascii_lower(value: str) -> str:
    """Lower-case A-Z only: str.lower() would fold non-ASCII letters (İ, K) too."""
    return value.translate(_ASCII_UPPER)


def canonical_domain(domain: str) -> str:
    """The domain as UTS 46 encodes it (punycode for non-ASCII labels), lower-cased.

    A domain IDNA refuses keeps its own letters, only ASCII-folded: it can then
    match nothing but itself, never a valid domain it looks like."""
    domain = domain.strip().rstrip(".")
    try:
        encoded = idna.encode(domain, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError):
        return ascii_lower(domain)
    return encoded.lower()


def canonical_email(address: str) -> str:
    """The stored lookup form: the local part as typed with ASCII-only case
    folding, '@', the canonical domain. Surrounding spaces are dropped."""
    address = address.strip()
    local, at, domain = address.rpartition("@")
    if not at:
        return ascii_lower(address)
    return f"{ascii_lower(local)}@{canonical_domain(domain)}"


def email_domain(address: str) -> str:
    """The canonical domain of an address ("" without one)."""
    _local, at, domain = canonical_email(address).rpartition("@")
    return domain if at else ""
