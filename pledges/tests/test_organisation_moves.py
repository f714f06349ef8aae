"""Merging duplicate organisations and resolving typed names: pledges move, counters stay exact."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import Sum

from campaigns.models import Campaign
from conftest import create_pledge
from organisations.models import (
    Organisation,
    OrganisationCampaign,
    OrganisationSuggestion,
    OrganisationTotal,
    SuggestionStatus,
)
from organisations.services import TOTAL_FIELDS, OrganisationInvalid, organisation_create
from pledges.models import PUBLIC_STATES, Pledge, Status, TotalShard, Transition, Verified
from pledges.organisation_moves import (
    OrganisationMoveRefused,
    organisations_merge,
    pledge_organisation_set,
    suggestion_accept,
    suggestion_map,
)
from pledges.outcomes import pledge_outcome_record
from pledges.services import campaign_recompute_totals, organisation_counts, pledge_confirm, pledge_transition


def directory_entry(code: str, name: str, *domains: str) -> Organisation:
    return organisation_create(code=code, name=name, kind="nhs-trust", region="london", domains=domains)


def counters(campaign: Campaign) -> dict[int, dict[str, int]]:
    """What the organisations' live counters say, organisation by organisation."""
    sums = (
        OrganisationTotal.objects.filter(campaign=campaign)
        .values("organisation_id")
        .annotate(**{field: Sum(field) for field in TOTAL_FIELDS})
    )
    found = {row.pop("organisation_id"): row for row in sums}
    return {org_id: row for org_id, row in found.items() if any(row.values())}


def fresh_count(campaign: Campaign) -> dict[int, dict[str, int]]:
    """The same, counted now from the pledges themselves."""
    counts: dict[int, dict[str, int]] = {}
    for pledge in Pledge.objects.filter(campaign=campaign, status__in=PUBLIC_STATES, org__isnull=False):
        mine = counts.setdefault(pledge.org_id, dict.fromkeys(TOTAL_FIELDS, 0))
        for field, n in organisation_counts(sector_mask=pledge.sector_mask, outcome=pledge.outcome).items():
            mine[field] += n
    return counts


def assert_exact(campaign: Campaign, caplog: pytest.LogCaptureFixture) -> None:
    assert counters(campaign) == fresh_count(campaign)
    with caplog.at_level(logging.WARNING, logger="pledges.services"):
        caplog.clear()
        assert campaign_recompute_totals(campaign=campaign) == {}
    assert "Repaired" not in caplog.text


def pledge_for(campaign: Campaign, n: int, organisation: Organisation | None, **overrides: Any) -> Pledge:
    """A pledge that chose `organisation` on the form, then confirmed."""
    pledge = create_pledge(campaign, n, confirm=False, **overrides)
    if organisation is not None:
        pledge_organisation_set(pledge=pledge, organisation=organisation)
    return pledge_confirm(pledge=pledge)


def suggested(campaign: Campaign, n: int, typed: str, **overrides: Any) -> Pledge:
    """A pledge whose organisation was typed, not chosen: it waits in a suggestion."""
    from organisations.models import suggestion_name_key

    pledge = create_pledge(campaign, n, organisation=typed, **overrides)
    suggestion, _ = OrganisationSuggestion.objects.get_or_create(
        name_key=suggestion_name_key(typed), defaults={"name": typed}
    )
    Pledge.objects.filter(pk=pledge.pk).update(org_suggestion=suggestion)
    return Pledge.objects.get(pk=pledge.pk)


@pytest.mark.django_db
def test_merging_moves_every_pledge_domain_suggestion_and_page_and_keeps_totals_exact(
    campaign: Campaign, make_campaign: Any, caplog: pytest.LogCaptureFixture
) -> None:
    other_campaign = make_campaign(name="Change Day 2028", slug="change-day-2028")
    keep = directory_entry("RXA", "Riverside Homes", "riversidehomes.org.uk")
    dup1 = directory_entry("RXB", "Riverside Homes Ltd", "riverside-homes.example")
    dup2 = directory_entry("RXC", "riverside homes")
    bystander = directory_entry("RZZ", "Oak Trust")
    made = [
        pledge_for(campaign, 1, keep, sectors=["nhs", "housing"]),
        pledge_for(campaign, 2, dup1, sectors=["housing"]),
        pledge_for(campaign, 3, dup1, sectors=["social-care", "patient-carer"]),
        pledge_for(campaign, 4, dup2, sectors=["nhs"]),
        pledge_for(other_campaign, 5, dup2, sectors=["housing"]),
        pledge_for(campaign, 6, bystander, sectors=["nhs"]),
        create_pledge(campaign, 7, confirm=False),
    ]
    pledge_organisation_set(pledge=made[6], organisation=dup1)  # unconfirmed: counts for nobody yet
    pledge_outcome_record(pledge=made[1], outcome="done")
    pledge_outcome_record(pledge=made[3], outcome="started")
    hidden = pledge_for(campaign, 8, dup2, sectors=["nhs"])
    pledge_transition(pledge=hidden, transition=Transition.HIDE)
    suggestion = OrganisationSuggestion.objects.create(
        name_key="riverside homes group",
        name="Riverside Homes Group",
        status=SuggestionStatus.MAPPED,
        organisation=dup1,
    )
    OrganisationCampaign.objects.create(organisation=keep, campaign=campaign, welcome="Keep's own welcome")
    OrganisationCampaign.objects.create(organisation=dup1, campaign=campaign, welcome="Loses to keep's")
    OrganisationCampaign.objects.create(organisation=dup2, campaign=other_campaign, welcome="Moves across")
    assert_exact(campaign, caplog)

    moved = organisations_merge(keep=keep, others=[dup1, dup2])

    assert moved.pledges == 6
    assert not Organisation.objects.filter(pk__in=[dup1.pk, dup2.pk]).exists()
    assert set(Pledge.objects.filter(org=keep).values_list("pk", flat=True)) == {
        p.pk for p in [*made[:5], made[6], hidden]
    }
    assert Pledge.objects.get(pk=made[5].pk).org == bystander
    assert set(keep.domains.values_list("domain", flat=True)) == {
        "riversidehomes.org.uk",
        "riverside-homes.example",
    }
    suggestion.refresh_from_db()
    assert suggestion.organisation == keep
    assert {(page.campaign_id, page.welcome) for page in keep.campaign_pages.all()} == {
        (campaign.pk, "Keep's own welcome"),
        (other_campaign.pk, "Moves across"),
    }
    totals = counters(campaign)[keep.pk]
    assert totals == {
        "pledges": 4,
        "nhs": 2,
        "social_care": 1,
        "housing": 2,
        "patient_carer": 1,
        "done": 1,
        "started": 1,
    }
    assert counters(other_campaign)[keep.pk]["pledges"] == 1
    assert_exact(campaign, caplog)
    assert_exact(other_campaign, caplog)
    # Later moves land on the kept organisation.
    pledge_confirm(pledge=made[6])
    pledge_transition(pledge=hidden, transition=Transition.RESTORE)
    assert counters(campaign)[keep.pk]["pledges"] == 6
    assert_exact(campaign, caplog)


@pytest.mark.django_db
def test_a_merge_needs_another_organisation(campaign: Campaign) -> None:
    keep = directory_entry("RXA", "Riverside Homes")
    with pytest.raises(OrganisationMoveRefused, match="at least one other"):
        organisations_merge(keep=keep, others=[keep])


@pytest.mark.django_db
def test_a_merged_staff_badge_follows_the_domain_and_a_shared_domain_badge_stays(campaign: Campaign) -> None:
    campaign.staff_domains = "nhs.net"
    campaign.save()
    keep = directory_entry("RXA", "Riverside Homes")
    dup = directory_entry("RXB", "Riverside Homes Ltd", "riversidehomes.org.uk")
    staff = pledge_for(campaign, 1, dup, email="ana@riversidehomes.org.uk")
    shared = pledge_for(campaign, 2, dup, email="bo@nhs.net")
    assert (staff.verified, shared.verified) == (Verified.STAFF, Verified.SHARED_DOMAIN)
    organisations_merge(keep=keep, others=[dup])
    staff.refresh_from_db()
    shared.refresh_from_db()
    assert (staff.org, staff.verified) == (keep, Verified.STAFF)
    assert (shared.org, shared.verified) == (keep, Verified.SHARED_DOMAIN)


@pytest.mark.django_db
def test_accepting_a_suggestion_creates_the_organisation_and_counts_its_pledges(
    campaign: Campaign, caplog: pytest.LogCaptureFixture
) -> None:
    first = suggested(
        campaign, 1, "Riverside Homes Ltd.", sectors=["housing"], email="ana@riversidehomes.org.uk"
    )
    second = suggested(campaign, 2, "riverside  homes", sectors=["housing", "nhs"])
    waiting = suggested(campaign, 3, "Riverside Homes", confirm=False)
    assert first.org_suggestion_id == second.org_suggestion_id == waiting.org_suggestion_id
    suggestion = first.org_suggestion
    assert counters(campaign) == {}

    organisation = suggestion_accept(
        suggestion=suggestion,
        code="l0412",
        kind="Housing association",
        region="North West",
        name="Riverside Homes",
        domains=["riversidehomes.org.uk"],
    )

    assert (organisation.code, organisation.kind, organisation.region, organisation.slug) == (
        "L0412",
        "housing-association",
        "north-west",
        "riverside-homes",
    )
    suggestion.refresh_from_db()
    assert (suggestion.status, suggestion.organisation, suggestion.resolved_at is not None) == (
        SuggestionStatus.ACCEPTED,
        organisation,
        True,
    )
    assert set(Pledge.objects.filter(org=organisation).values_list("pk", flat=True)) == {
        first.pk,
        second.pk,
        waiting.pk,
    }
    # Confirmed from the new organisation's own domain: now verified staff.
    assert Pledge.objects.get(pk=first.pk).verified == Verified.STAFF
    assert counters(campaign)[organisation.pk]["pledges"] == 2
    assert counters(campaign)[organisation.pk]["housing"] == 2
    assert_exact(campaign, caplog)
    pledge_confirm(pledge=waiting)
    assert counters(campaign)[organisation.pk]["pledges"] == 3
    assert_exact(campaign, caplog)
    with pytest.raises(OrganisationMoveRefused, match="already been accepted"):
        suggestion_map(suggestion=suggestion, organisation=organisation)


@pytest.mark.django_db
def test_accepting_refuses_a_taken_code_or_bad_kind_and_leaves_the_suggestion_open(
    campaign: Campaign,
) -> None:
    directory_entry("RXA", "Riverside Homes")
    pledge = suggested(campaign, 1, "Oak Lodge Care")
    with pytest.raises(OrganisationInvalid, match="already Riverside Homes's"):
        suggestion_accept(suggestion=pledge.org_suggestion, code="rxa", kind="care-provider", region="london")
    with pytest.raises(OrganisationInvalid, match="Kind 'castle'"):
        suggestion_accept(suggestion=pledge.org_suggestion, code="OAK1", kind="castle", region="london")
    suggestion = OrganisationSuggestion.objects.get()
    assert suggestion.status == SuggestionStatus.OPEN
    assert Pledge.objects.get(pk=pledge.pk).org is None
    assert Organisation.objects.count() == 1


@pytest.mark.django_db
def test_mapping_a_suggestion_counts_its_pledges_for_an_existing_organisation(
    campaign: Campaign, caplog: pytest.LogCaptureFixture
) -> None:
    oak = directory_entry("RXA", "Oak Trust", "oak.nhs.uk")
    pledge_for(campaign, 1, oak, sectors=["nhs"])
    typed = suggested(campaign, 2, "Oak NHS Trust", sectors=["nhs", "social-care"])
    pledge_outcome_record(pledge=typed, outcome="done")
    withdrawn = suggested(campaign, 3, "Oak NHS Trust")
    pledge_transition(pledge=withdrawn, transition=Transition.WITHDRAW)

    moved = suggestion_map(suggestion=typed.org_suggestion, organisation=oak)

    assert moved.pledges == 2
    assert Pledge.objects.get(pk=typed.pk).org == oak
    assert Pledge.objects.get(pk=withdrawn.pk).status == Status.WITHDRAWN
    assert counters(campaign)[oak.pk] == {
        "pledges": 2,
        "nhs": 2,
        "social_care": 1,
        "housing": 0,
        "patient_carer": 0,
        "done": 1,
        "started": 0,
    }
    assert OrganisationSuggestion.objects.get().status == SuggestionStatus.MAPPED
    assert_exact(campaign, caplog)


@pytest.mark.django_db
def test_correcting_one_pledges_organisation_moves_its_counters(
    campaign: Campaign, caplog: pytest.LogCaptureFixture
) -> None:
    oak = directory_entry("RXA", "Oak Trust")
    elm = directory_entry("RXB", "Elm Trust")
    pledge = pledge_for(campaign, 1, oak, sectors=["nhs"])
    pledge_organisation_set(pledge=pledge, organisation=elm)
    assert counters(campaign) == {elm.pk: {**dict.fromkeys(TOTAL_FIELDS, 0), "pledges": 1, "nhs": 1}}
    assert_exact(campaign, caplog)


@pytest.mark.postgres_only("concurrent writers: SQLite serialises them")
@pytest.mark.django_db(transaction=True)
def test_a_merge_during_a_burst_of_confirmations_leaves_the_counters_exact(
    campaign: Campaign, make_campaign: Any
) -> None:
    # Half the confirmations are in a campaign where the duplicate has no counter rows yet:
    # they make its rows while the merge runs, and neither may wait for the other for ever.
    later = make_campaign(name="Change Day 2028", slug="change-day-2028")
    keep = directory_entry("RXA", "Riverside Homes")
    dup = directory_entry("RXB", "Riverside Homes Ltd")
    pledges = []
    for n in range(80):
        pledge = create_pledge(
            later if n % 2 else campaign, n, confirm=False, sectors=["housing"] if n % 3 else ["nhs"]
        )
        pledge_organisation_set(pledge=pledge, organisation=dup)
        pledges.append(pledge)
    for pledge in pledges[:20:2]:
        pledge_confirm(pledge=pledge)
    unconfirmed = [pledge for pledge in pledges if pledge not in pledges[:20:2]]
    errors: list[BaseException] = []
    started = threading.Event()

    def confirm(chunk: list[Pledge]) -> None:
        try:
            started.set()
            for pledge in chunk:
                pledge_confirm(pledge=pledge)
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    def merge() -> None:
        try:
            started.wait(5)
            organisations_merge(keep=keep, others=[dup])
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=confirm, args=(unconfirmed[i::4],)) for i in range(4)]
    threads.append(threading.Thread(target=merge))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert not Organisation.objects.filter(pk=dup.pk).exists()
    assert Pledge.objects.filter(org=keep, status=Status.PUBLISHED).count() == 80
    for each in (campaign, later):
        assert counters(each) == fresh_count(each)
        assert counters(each)[keep.pk]["pledges"] == 40


def _wait_for_a_lock_wait(timeout: float = 10) -> None:
    """Until some other connection of this database waits for a row lock."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("nothing waited for a lock")


@pytest.mark.postgres_only("row locks held by two connections")
@pytest.mark.django_db(transaction=True)
def test_a_confirmation_waiting_for_the_campaigns_counters_holds_none_of_its_organisations(
    campaign: Campaign, caplog: pytest.LogCaptureFixture
) -> None:
    # The recount holds every counter of the campaign while it counts, then takes the
    # organisations'. A confirmation that took its organisation's counter first and then
    # waited for the campaign's deadlocked with it, and the pledger's click failed.
    riverside = directory_entry("RXA", "Riverside Homes")
    pledge_for(campaign, 1, riverside)
    waiting = create_pledge(campaign, 2, confirm=False)
    pledge_organisation_set(pledge=waiting, organisation=riverside)
    campaign_recompute_totals(campaign=campaign)  # every counter row of every shard is there
    holding, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def hold_the_campaigns_counters() -> None:
        try:
            with transaction.atomic():
                list(TotalShard.objects.select_for_update().filter(campaign=campaign))
                holding.set()
                release.wait(30)
        finally:
            connection.close()

    def run(work: Any) -> None:
        try:
            work()
        except BaseException as exc:  # noqa: BLE001 - reported by the test below
            errors.append(exc)
        finally:
            connection.close()

    holder = threading.Thread(target=hold_the_campaigns_counters)
    holder.start()
    assert holding.wait(10)
    confirmer = threading.Thread(target=run, args=(lambda: pledge_confirm(pledge=waiting),))
    confirmer.start()
    _wait_for_a_lock_wait()
    try:
        with transaction.atomic():
            free = list(
                OrganisationTotal.objects.select_for_update(nowait=True).filter(
                    campaign=campaign, organisation=riverside
                )
            )
    except DatabaseError:
        free = []
    recount = threading.Thread(target=run, args=(lambda: campaign_recompute_totals(campaign=campaign),))
    recount.start()
    release.set()
    for thread in (holder, confirmer, recount):
        thread.join(timeout=30)

    assert free, "the waiting confirmation held its organisation's counters"
    assert errors == []
    waiting.refresh_from_db()
    assert waiting.status == Status.PUBLISHED
    assert counters(campaign)[riverside.pk]["pledges"] == 2
    assert_exact(campaign, caplog)
