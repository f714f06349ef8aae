"""`seed_demo` loads the sample directory and points demo pledges at organisations in it."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from organisations.models import Organisation, OrganisationTotal
from pledges.models import Pledge, Status


@pytest.mark.django_db
def test_seed_demo_loads_the_sample_directory_once_and_counts_demo_pledges_for_organisations() -> None:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    assert "Loaded the sample directory: 472 organisations." in out.getvalue()
    assert Organisation.objects.count() >= 300
    chosen = Pledge.objects.filter(org__isnull=False)
    assert chosen.count() >= 8
    for pledge in chosen.select_related("org"):
        assert pledge.organisation == pledge.org.name
        assert pledge.region == pledge.org.region
    published = chosen.filter(status=Status.PUBLISHED).count()
    assert sum(OrganisationTotal.objects.values_list("pledges", flat=True)) == published

    # Run again: an organiser's edit to the directory is left alone.
    Organisation.objects.filter(code="L0412").update(name="Riverside Homes (renamed)")
    call_command("seed_demo", stdout=StringIO())
    assert Organisation.objects.get(code="L0412").name == "Riverside Homes (renamed)"
