"""Organisations in the directory for tests. The directory's import (organisations.services)
is the organisers' way in; these tests need a handful of rows, made as the import makes them."""

from __future__ import annotations

from typing import Any

from django.utils.text import slugify

from organisations.models import Organisation, OrganisationDomain


def make_organisation(name: str, *, domains: tuple[str, ...] = (), **overrides: Any) -> Organisation:
    slug = overrides.pop("slug", slugify(name))
    values: dict[str, Any] = {
        "code": overrides.pop("code", slug.upper()[:32]),
        "name": name,
        "slug": slug,
        "kind": "care-provider",
        "region": "north-west",
        **overrides,
    }
    organisation = Organisation.objects.create(**values)
    OrganisationDomain.objects.bulk_create(
        [OrganisationDomain(organisation=organisation, domain=domain) for domain in domains]
    )
    return organisation
