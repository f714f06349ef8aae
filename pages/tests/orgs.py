"""Directory entries and pledges that count for them, for the organisation pages' tests."""

from __future__ import annotations

from typing import Any

from organisations.models import Organisation
from pledges.models import Pledge
from pledges.services import pledge_confirm


def make_org(n: int, *, name: str | None = None, **overrides: Any) -> Organisation:
    values: dict[str, Any] = {
        "code": f"T{n:05d}",
        "name": name or f"Organisation {n:05d}",
        "slug": f"organisation-{n:05d}",
        "kind": "nhs-trust",
        "region": "london",
        "headcount": None,
    }
    values.update(overrides)
    return Organisation.objects.create(**values)


def org_pledge(
    campaign: Any, organisation: Organisation, n: int, *, confirm: bool = True, **overrides: Any
) -> Any:
    """A pledge made through the services that counts for `organisation`.

    The form's choice of organisation is another part of issue 18: until pledge_create takes
    it, the chosen organisation is set on the stored pledge before it is confirmed, so the
    confirmation moves its counters as it would for a pledge made on the form."""
    from conftest import create_pledge

    overrides.setdefault("organisation", organisation.name)
    pledge = create_pledge(campaign, n, confirm=False, **overrides)
    Pledge.objects.filter(pk=pledge.pk).update(org=organisation)
    pledge.refresh_from_db()
    return pledge_confirm(pledge=pledge) if confirm else pledge
