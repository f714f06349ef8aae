"""A pledge's sectors have one record (its tags); sector_mask agrees with it on every write
path, and the nightly repair heals any disagreement."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from changeday.celery import app
from conftest import create_pledge
from moderation.models import Action
from moderation.services import pledge_moderate
from pledges import services
from pledges.models import Pledge, TaggedSector, sector_mask_for
from pledges.privacy import pledger_data_erase
from pledges.sectors import pledge_sectors_repair
from pledges.selectors import campaign_totals
from pledges.tasks import repair_sectors_task

pytestmark = pytest.mark.django_db


def _tags(pledge: Any) -> list[str]:
    links = TaggedSector.objects.filter(content_object_id=pledge.pk)
    return sorted(links.values_list("tag__slug", flat=True))


def _disagreements() -> list[int]:
    """Pledges whose mask is not the one their tags derive."""
    return [
        pledge.pk for pledge in Pledge.objects.all() if pledge.sector_mask != sector_mask_for(_tags(pledge))
    ]


def _repair() -> str:
    out = io.StringIO()
    call_command("repair_sectors", stdout=out)
    return out.getvalue()


def test_a_pledge_from_the_form_is_tagged_with_its_sectors_and_its_mask_derives_from_them(
    campaign: Any,
) -> None:
    pledge = create_pledge(campaign, sectors=["housing", "nhs", "housing"])

    assert _tags(pledge) == ["housing", "nhs"]
    assert Pledge.objects.get(pk=pledge.pk).sector_mask == sector_mask_for(["housing", "nhs"])
    assert _disagreements() == []


def test_the_orm_insert_tags_and_derives_the_mask_as_the_one_statement_insert_does(
    campaign: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SQLite pass of the suite takes this path by itself; here it runs on PostgreSQL too.
    monkeypatch.setattr(services, "_pledge_insert_postgresql", services._pledge_insert_orm)
    pledge = create_pledge(campaign, sectors=["patient-carer", "social-care"])

    assert _tags(pledge) == ["patient-carer", "social-care"]
    assert _disagreements() == []


def test_bulk_loaded_pledges_have_masks_their_tags_derive(campaign: Any) -> None:
    call_command("load_pledges", campaign=campaign.slug, count=300, seed=16, stdout=io.StringIO())

    assert Pledge.objects.filter(campaign=campaign).count() == 300
    assert _disagreements() == []


def test_moderation_decisions_leave_the_sectors_as_they_were(pre_campaign: Any, organiser: Any) -> None:
    pledge = create_pledge(pre_campaign, sectors=["nhs", "social-care"])
    for action in (Action.PUBLISH, Action.HIDE, Action.RESTORE):
        pledge_moderate(pledge_ids=[pledge.pk], action=action, actor=organiser)

    assert _tags(pledge) == ["nhs", "social-care"]
    assert _disagreements() == []


def test_erasing_a_pledgers_data_takes_the_sector_tags_with_the_pledge(campaign: Any) -> None:
    kept = create_pledge(campaign, 1, sectors=["housing"])
    gone = create_pledge(campaign, 2, sectors=["nhs", "housing"], email="erase-me@example.org")

    pledger_data_erase(email="erase-me@example.org")

    assert not TaggedSector.objects.filter(content_object_id=gone.pk).exists()
    assert _tags(kept) == ["housing"]


def test_a_mask_changed_behind_the_tags_back_is_derived_again_and_the_counters_follow(campaign: Any) -> None:
    pledge = create_pledge(campaign, sectors=["nhs"])
    with connection.cursor() as cursor:
        housing = sector_mask_for(["housing"])
        cursor.execute("UPDATE pledges_pledge SET sector_mask = %s WHERE id = %s", [housing, pledge.pk])
    services.campaign_recompute_totals(campaign=campaign)
    assert campaign_totals(campaign=campaign).by_sector["housing"] == 1

    assert "1 pledges" in _repair()

    assert Pledge.objects.get(pk=pledge.pk).sector_mask == sector_mask_for(["nhs"])
    totals = campaign_totals(campaign=campaign)
    assert totals.by_sector["nhs"] == 1 and totals.by_sector["housing"] == 0
    assert _repair().startswith("Every pledge's sector_mask agrees")


def test_a_deleted_tag_is_healed_by_deriving_the_mask_from_the_tags_left(campaign: Any) -> None:
    pledge = create_pledge(campaign, sectors=["nhs", "housing"])
    assert campaign_totals(campaign=campaign).integration == 1
    TaggedSector.objects.filter(content_object_id=pledge.pk, tag__slug="housing").delete()

    repair = pledge_sectors_repair()

    assert repair.masks_repaired == [pledge.pk] and repair.campaigns_recounted == [campaign.pk]
    assert Pledge.objects.get(pk=pledge.pk).sector_mask == sector_mask_for(["nhs"])
    totals = campaign_totals(campaign=campaign)
    assert totals.by_sector["housing"] == 0 and totals.integration == 0
    assert _disagreements() == []


def test_a_pledge_left_with_no_tags_gets_them_back_from_its_mask(campaign: Any) -> None:
    pledge = create_pledge(campaign, sectors=["social-care", "patient-carer"])
    TaggedSector.objects.filter(content_object_id=pledge.pk).delete()

    repair = pledge_sectors_repair()

    assert repair.tags_restored == [pledge.pk] and repair.masks_repaired == []
    assert _tags(pledge) == ["patient-carer", "social-care"]


def test_the_repair_runs_nightly_as_its_own_job_beside_the_recount(campaign: Any) -> None:
    pledge = create_pledge(campaign, sectors=["nhs"])
    Pledge.objects.filter(pk=pledge.pk).update(sector_mask=sector_mask_for(["nhs", "housing"]))

    schedule = app.conf.beat_schedule
    assert schedule["repair-sectors"]["task"] == repair_sectors_task.name
    assert schedule["repair-sectors"]["task"] != schedule["recompute-totals"]["task"]
    assert repair_sectors_task() == 1
    assert _disagreements() == []
