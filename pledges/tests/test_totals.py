"""Live counters move with every status change and repair themselves."""

from __future__ import annotations

import io
import threading
from typing import Any

import pytest
from django.core.management import call_command
from django.db import close_old_connections, connection

from conftest import create_pledge
from pledges.models import TotalShard
from pledges.selectors import campaign_totals
from pledges.services import campaign_recompute_totals, pledge_confirm


def _make(campaign: Any, n: int, *, sectors: list[str] | None = None, region: str = "london") -> Any:
    return create_pledge(
        campaign,
        n,
        confirm=False,
        text=f"promise number {n} to my whole team",
        display_name="Lee",
        role="Nurse",
        region=region,
        sectors=sectors or ["nhs"],
        email=f"lee{n}@example.org",
    )


@pytest.mark.django_db
def test_publishing_a_pledge_moves_every_counter_it_belongs_to(campaign: Any) -> None:
    before = campaign_totals(campaign=campaign)
    pledge_confirm(pledge=_make(campaign, 1, sectors=["nhs", "housing"], region="wales"))

    after = campaign_totals(campaign=campaign)
    assert before.total == 0
    assert after.total == 1
    assert after.by_sector == {"nhs": 1, "social-care": 0, "housing": 1, "patient-carer": 0}
    assert after.integration == 1
    assert after.by_region["wales"] == 1 and after.by_region["london"] == 0
    assert after.by_kind == {"personal": 1, "organisational": 0}


@pytest.mark.django_db
def test_an_unconfirmed_or_pre_moderated_pledge_is_not_counted(campaign: Any, pre_campaign: Any) -> None:
    _make(campaign, 1)
    pledge_confirm(pledge=_make(pre_campaign, 2))

    assert campaign_totals(campaign=campaign).total == 0
    assert campaign_totals(campaign=pre_campaign).total == 0


@pytest.mark.django_db
def test_confirming_twice_counts_once(campaign: Any) -> None:
    pledge = _make(campaign, 1)
    pledge_confirm(pledge=pledge)
    pledge_confirm(pledge=pledge)
    assert campaign_totals(campaign=campaign).total == 1


@pytest.mark.django_db
def test_recompute_repairs_a_corrupted_counter(campaign: Any) -> None:
    for n in range(5):
        pledge_confirm(pledge=_make(campaign, n, sectors=["social-care"]))
    # Drift, as a bug or a hand edit would leave it.
    TotalShard.objects.filter(campaign=campaign, key="total").update(value=1000)
    TotalShard.objects.filter(campaign=campaign, key="sector:social-care").delete()
    assert campaign_totals(campaign=campaign).total != 5

    out = io.StringIO()
    call_command("recompute_totals", "--campaign", campaign.slug, stdout=out)

    totals = campaign_totals(campaign=campaign)
    assert totals.total == 5 and totals.by_sector["social-care"] == 5
    assert "repaired" in out.getvalue() and "total" in out.getvalue()
    assert campaign_recompute_totals(campaign=campaign) == {}


@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_concurrent_publishes_leave_the_counters_exact(campaign: Any) -> None:
    pledges = [
        _make(campaign, n, sectors=["nhs", "social-care"] if n % 3 else ["housing"]) for n in range(120)
    ]
    errors: list[BaseException] = []

    def publish(chunk: list[Any]) -> None:
        try:
            for pledge in chunk:
                pledge_confirm(pledge=pledge)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    threads = [threading.Thread(target=publish, args=(pledges[i::6],)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    totals = campaign_totals(campaign=campaign)
    assert totals.total == 120
    assert totals.by_sector["housing"] == 40 and totals.integration == 80
    assert campaign_recompute_totals(campaign=campaign) == {}
    # The writes really were spread: more than one shard took some.
    assert TotalShard.objects.filter(campaign=campaign, key="total", value__gt=0).count() > 1


@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_a_burst_of_concurrent_publishes_and_unpublishes_matches_a_fresh_recount(
    campaign: Any, organiser: Any
) -> None:
    from moderation.services import pledge_moderate

    sectors = [["social-care"], ["nhs", "housing"]]
    pledges = [_make(campaign, n, sectors=sectors[n % 2]) for n in range(90)]
    for pledge in pledges[:60]:
        pledge_confirm(pledge=pledge)
    errors: list[BaseException] = []

    def churn(chunk: list[Any], worker: int) -> None:
        try:
            for turn, pledge in enumerate(chunk):
                if pledge.status == "unconfirmed":
                    pledge_confirm(pledge=pledge)
                    continue
                action = "hide" if (turn + worker) % 2 else "reject"
                pledge_moderate(pledge_ids=[pledge.pk], action=action, actor=organiser, reason_code="spam")
                pledge_moderate(pledge_ids=[pledge.pk], action="restore", actor=organiser)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    for pledge in pledges:
        pledge.refresh_from_db()
    threads = [threading.Thread(target=churn, args=(pledges[i::5], i)) for i in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert errors == []
    assert campaign_totals(campaign=campaign).total == 90
    assert campaign_recompute_totals(campaign=campaign) == {}
