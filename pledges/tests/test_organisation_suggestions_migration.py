"""The free-text migration (pledges 0020): typed organisations become suggestions."""

from __future__ import annotations

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.db import connection

from campaigns.models import Campaign
from conftest import create_pledge
from organisations.models import OrganisationSuggestion
from pledges.models import Pledge

migration = importlib.import_module("pledges.migrations.0020_organisation_suggestions")


def migrate_forwards(**options: object) -> None:
    migration.suggestions_from_typed_names(apps, SimpleNamespace(connection=connection), **options)


def typed(campaign: Campaign, n: int, organisation: str) -> Pledge:
    pledge = create_pledge(campaign, n, organisation=organisation)
    # Pledges made before the directory: nothing chose or suggested for them.
    Pledge.objects.filter(pk=pledge.pk).update(org=None, org_suggestion=None)
    return pledge


@pytest.mark.django_db
@pytest.mark.parametrize("temporary_table", [None, False], ids=["this-database's-way", "batched-updates"])
def test_typed_organisations_become_suggestions_named_as_most_typed_them(
    campaign: Campaign, temporary_table: bool | None
) -> None:
    names = [
        "Riverside Homes",
        "riverside homes ltd",
        "Riverside Homes Ltd.",
        "Riverside  Homes",
        "Riverside Homes",
        "Oak Lodge Care Limited",
        "oak lodge care",
        "<b>Elm</b> Surgery",
        "",
        "   ",
    ]
    made = [typed(campaign, n, name) for n, name in enumerate(names)]

    migrate_forwards(temporary_table=temporary_table)

    suggestions = {s.name_key: s for s in OrganisationSuggestion.objects.all()}
    assert {key: s.name for key, s in suggestions.items()} == {
        "riverside homes": "Riverside Homes",
        # A tie: the earliest typing names it.
        "oak lodge care": "Oak Lodge Care Limited",
        "<b>elm</b> surgery": "<b>Elm</b> Surgery",
    }
    assert {s.status for s in suggestions.values()} == {"open"}
    pointed = dict(Pledge.objects.values_list("pk", "org_suggestion__name_key"))
    assert [pointed[p.pk] for p in made] == [
        *["riverside homes"] * 5,
        *["oak lodge care"] * 2,
        "<b>elm</b> surgery",
        None,
        None,
    ]
    # The typed text stays as it was typed.
    assert Pledge.objects.get(pk=made[2].pk).organisation == "Riverside Homes Ltd."
    assert suggestions["riverside homes"].pledges.count() == 5


@pytest.mark.django_db
def test_the_migration_can_run_again_and_be_reversed(campaign: Campaign) -> None:
    first = typed(campaign, 1, "Riverside Homes")
    migrate_forwards()
    migrate_forwards()
    assert OrganisationSuggestion.objects.count() == 1
    later = typed(campaign, 2, "RIVERSIDE HOMES")
    migrate_forwards()
    assert OrganisationSuggestion.objects.count() == 1
    assert Pledge.objects.get(pk=later.pk).org_suggestion == Pledge.objects.get(pk=first.pk).org_suggestion

    migration.suggestions_removed(apps, SimpleNamespace(connection=connection))

    assert not OrganisationSuggestion.objects.exists()
    assert not Pledge.objects.filter(org_suggestion__isnull=False).exists()
    assert Pledge.objects.get(pk=first.pk).organisation == "Riverside Homes"


@pytest.mark.django_db
def test_a_pledge_that_chose_from_the_directory_is_left_alone(campaign: Campaign) -> None:
    from organisations.services import organisation_create
    from pledges.organisation_moves import pledge_organisation_set

    oak = organisation_create(code="RXA", name="Oak Trust", kind="nhs-trust", region="london")
    chosen = create_pledge(campaign, 1, organisation="Oak Trust")
    pledge_organisation_set(pledge=chosen, organisation=oak)
    migrate_forwards()
    assert not OrganisationSuggestion.objects.exists()
    assert Pledge.objects.get(pk=chosen.pk).org == oak
