"""Reads of the directory: which organisation a domain belongs to, the type-ahead."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db.models.functions import Lower

from campaigns.models import Campaign
from organisations.models import Organisation, OrganisationDomain

# Domains a great many unrelated people share: listing one would make everyone using it
# "verified staff" of one organisation (a listed domain covers its subdomains too). A
# campaign's shared staff domains (nhs.net) are refused by the same rule.
SHARED_DOMAINS = frozenset(
    {
        "uk", "co.uk", "org.uk", "ac.uk", "gov.uk", "nhs.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk",
        "sch.uk", "police.uk", "mod.uk", "nhs.net", "scot", "gov.scot", "wales", "cymru", "gov.wales",
        "com", "org", "net", "info", "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk",
        "outlook.com", "live.com", "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "icloud.com",
        "me.com", "aol.com", "aol.co.uk", "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net",
        "protonmail.com", "proton.me", "mail.com", "gmx.com", "gmx.co.uk",
    }
)  # fmt: skip


def domain_and_parents(domain: str) -> list[str]:
    """staff.leedsth.nhs.uk, leedsth.nhs.uk, nhs.uk, uk: a listed domain covers its subdomains."""
    labels = domain.lower().strip(".").split(".")
    return [".".join(labels[start:]) for start in range(len(labels))]


def domain_listed(*, domain: str, listed: Iterable[str]) -> bool:
    wanted = {entry.strip().lower().strip(".") for entry in listed if entry.strip()}
    return any(candidate in wanted for candidate in domain_and_parents(domain))


def organisation_has_domain(*, organisation_id: int, domain: str) -> bool:
    return OrganisationDomain.objects.filter(
        organisation_id=organisation_id, domain__in=domain_and_parents(domain)
    ).exists()


def shared_domains() -> frozenset[str]:
    """Domains no one organisation may have: SHARED_DOMAINS and every campaign's shared staff domains."""
    listed = {
        entry.strip().lower().strip(".")
        for text in Campaign.objects.exclude(staff_domains="").values_list("staff_domains", flat=True)
        for entry in re.split(r"[\s,]+", text)
        if entry.strip()
    }
    return SHARED_DOMAINS | listed


# --- The type-ahead and the form's choices --------------------------------------------

SEARCH_RESULTS = 10
# Longer than any name in the directory (Organisation.name): a longer query matches nothing.
SEARCH_MAX = 200


def _search_key(query: str) -> str:
    # What Lower(name) is compared with: lower-case, one space between words.
    return " ".join(query.lower().split())


def organisation_search(*, query: str, limit: int = SEARCH_RESULTS) -> list[tuple[str, str]]:
    """(name, slug) of up to `limit` organisations whose name starts with `query`, then of
    those with a later word starting with it, each part in name order, any case: at most
    two queries whatever the directory holds.

    The first reads the Lower(name) index (organisation_name_lower_idx) as a range; LIKE
    alone uses it only under the C collation, and the range keeps it usable under any.
    A word inside a name cannot be looked up in that index: the second reads the
    directory (a few thousand short rows), and only when the first found too few."""
    key = _search_key(query)
    # PostgreSQL refuses a null character with an error, not an empty answer.
    if not key or len(key) > SEARCH_MAX or "\x00" in key or ord(key[-1]) >= 0x10FFFF:
        return []
    names = Organisation.objects.annotate(name_lower=Lower("name"))
    after = key[:-1] + chr(ord(key[-1]) + 1)
    found = list(
        names.filter(name_lower__gte=key, name_lower__lt=after, name_lower__startswith=key)
        .order_by("name_lower", "slug")
        .values_list("name", "slug")[:limit]
    )
    if len(found) < limit:
        seen = {slug for _, slug in found}
        inside = (
            names.filter(name_lower__contains=f" {key}")
            .exclude(name_lower__startswith=key)
            .order_by("name_lower", "slug")
            .values_list("name", "slug")[: limit - len(found)]
        )
        found += [(name, slug) for name, slug in inside if slug not in seen]
    return found


def organisation_by_slug(*, slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).first()


def organisation_named(*, name: str) -> Organisation | None:
    """The one organisation with exactly this name (any case, spaces collapsed), or None
    when none has it or several share it (two GP practices called 'Riverside Surgery')."""
    key = _search_key(name)
    if not key or "\x00" in key:
        return None
    same = list(Organisation.objects.annotate(name_lower=Lower("name")).filter(name_lower=key)[:2])
    return same[0] if len(same) == 1 else None
