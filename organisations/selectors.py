"""Reads of the directory: which organisation a domain belongs to, the type-ahead."""

from __future__ import annotations

from collections.abc import Iterable

from organisations.models import OrganisationDomain


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
