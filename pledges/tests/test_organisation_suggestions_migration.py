"""The free-text migration (pledges 0020): typed organisations become suggestions. Its
functions on today's models, and the migration itself run by Django's executor from 0019."""

from __future__ import annotations

import importlib
from types import SimpleNamespace
from typing import Any

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


# --- The migration itself, run by Django's executor on historical models ----------------------

BEFORE = ("pledges", "0019_organisations")
AFTER = ("pledges", "0020_organisation_suggestions")


def _migrate_to(pledges_node: tuple[str, str]) -> Any:
    """Every other app at its latest and pledges at `pledges_node`; the apps as they were there."""
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    graph = executor.loader.graph
    # Another app's migration that needs a later pledges migration (a foreign key to a model
    # made after pledges_node) is left unapplied: its app stops at the node before it.
    later = {
        node for node in graph.nodes if node[0] == "pledges" and node not in graph.forwards_plan(pledges_node)
    }
    needs_later = {child for node in later for child in graph.backwards_plan(node)}
    targets = [pledges_node]
    for leaf in graph.leaf_nodes():
        if leaf[0] == "pledges":
            continue
        node: tuple[str, str] | None = leaf
        while node in needs_later:
            parents = [parent.key for parent in graph.node_map[node].parents if parent.key[0] == node[0]]
            node = parents[0] if parents else None
        if node is not None:
            targets.append(node)
    executor.migrate(targets)
    # A fresh loader: the one that migrated holds the plan, not what is applied now.
    return MigrationExecutor(connection).loader.project_state(targets).apps


def _migrate_to_latest() -> None:
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_the_migration_turns_typed_organisations_into_suggestions_and_reverses() -> None:
    import uuid
    from datetime import date, timedelta

    from django.utils import timezone

    try:
        old = _migrate_to(BEFORE)
        now = timezone.now()
        campaign = old.get_model("campaigns", "Campaign").objects.create(
            name="Change Day",
            slug="change-day-migration",
            hashtag="ChangeDay",
            description="A campaign from before the directory.",
            opens_at=now - timedelta(days=1),
            change_day=date(2027, 3, 3),
            deadline=now + timedelta(days=30),
            target=1000,
        )
        oak = old.get_model("organisations", "Organisation").objects.create(
            code="RXA", name="Oak Trust", slug="oak-trust", kind="nhs-trust", region="london"
        )
        OldPledge = old.get_model("pledges", "Pledge")

        def typed(n: int, organisation: str, **fields: Any) -> int:
            return OldPledge.objects.create(
                campaign=campaign,
                public_id=f"migr{n:04d}",
                text=f"a promise made before the directory, number {n}",
                role="Nurse",
                organisation=organisation,
                region="london",
                email=f"person{n}@example.org",
                email_canonical=f"person{n}@example.org",
                consent_to_publish=True,
                submission_token=uuid.uuid4(),
                dedupe_key=f"migration-{n}",
                sector_mask=1,
                **fields,
            ).pk

        pledges = {
            "first": typed(1, "Riverside Homes"),
            "ltd": typed(2, "riverside homes ltd"),
            "dotted": typed(3, "Riverside Homes Ltd."),
            "again": typed(4, "Riverside Homes"),
            "oak-care": typed(5, "Oak Lodge Care Limited"),
            "none": typed(6, ""),
            "chosen": typed(7, "Oak Trust", org=oak),
        }

        new = _migrate_to(AFTER)

        Suggestion = new.get_model("organisations", "OrganisationSuggestion")
        assert sorted(Suggestion.objects.values_list("name_key", "name", "status")) == [
            ("oak lodge care", "Oak Lodge Care Limited", "open"),
            # Named as most of its pledges typed it.
            ("riverside homes", "Riverside Homes", "open"),
        ]
        NewPledge = new.get_model("pledges", "Pledge")
        pointed = dict(NewPledge.objects.values_list("pk", "org_suggestion__name_key"))
        assert {name: pointed[pk] for name, pk in pledges.items()} == {
            "first": "riverside homes",
            "ltd": "riverside homes",
            "dotted": "riverside homes",
            "again": "riverside homes",
            "oak-care": "oak lodge care",
            "none": None,
            # Chosen from the directory: it counts for its organisation, no suggestion.
            "chosen": None,
        }
        assert NewPledge.objects.get(pk=pledges["chosen"]).org_id == oak.pk
        # The typed text stays as typed.
        assert NewPledge.objects.get(pk=pledges["dotted"]).organisation == "Riverside Homes Ltd."

        back = _migrate_to(BEFORE)

        assert not back.get_model("organisations", "OrganisationSuggestion").objects.exists()
        BackPledge = back.get_model("pledges", "Pledge")
        assert BackPledge.objects.count() == len(pledges)
        assert not BackPledge.objects.filter(org_suggestion__isnull=False).exists()
        assert BackPledge.objects.get(pk=pledges["ltd"]).organisation == "riverside homes ltd"
        assert BackPledge.objects.get(pk=pledges["chosen"]).org_id == oak.pk
    finally:
        # The rest of the run needs today's schema; the rows go with the test's flush.
        _migrate_to_latest()
