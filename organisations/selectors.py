"""Reads of the directory: which organisation a domain belongs to, the type-ahead."""

from __future__ import annotations

import re
from collections.abc import Iterable

from campaigns.models import Campaign
from organisations.models import OrganisationDomain

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
