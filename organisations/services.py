"""Every write to the directory and to organisations' counters."""

from __future__ import annotations

import random
from collections.abc import Mapping

from django.db import transaction
from django.db.models import F

from organisations.models import ORGANISATION_TOTAL_SHARDS, OrganisationSuggestion, OrganisationTotal

# The counted fields of OrganisationTotal, as pledges.services computes their deltas.
TOTAL_FIELDS = ("pledges", "nhs", "social_care", "housing", "patient_carer", "done", "started")


def organisation_totals_apply(*, campaign_id: int, deltas: Mapping[int, Mapping[str, int]]) -> None:
    """Add {organisation id: {field: delta}} to the counters, in the caller's transaction
    (a pledge's move): one random shard per organisation, locked in id order as the
    campaign's counters are, so two moves never wait on each other in opposite orders."""
    for organisation_id in sorted(deltas):
        changes = {field: delta for field, delta in deltas[organisation_id].items() if delta}
        if not changes:
            continue
        shard = random.randrange(ORGANISATION_TOTAL_SHARDS)
        row = OrganisationTotal.objects.filter(
            campaign_id=campaign_id, organisation_id=organisation_id, shard=shard
        )
        values = {field: F(field) + delta for field, delta in changes.items()}
        if not row.update(**values):
            # The organisation's first pledge on this shard; a racing first one makes the
            # same row, and both then add to it.
            OrganisationTotal.objects.bulk_create(
                [OrganisationTotal(campaign_id=campaign_id, organisation_id=organisation_id, shard=shard)],
                ignore_conflicts=True,
            )
            row.update(**values)


def organisation_totals_replace(*, campaign_id: int, exact: Mapping[int, Mapping[str, int]]) -> int:
    """Rewrite a campaign's organisation counters from counts made from the pledges (the
    recount); returns how many organisations' counters were wrong. The caller holds the
    campaign's counter rows locked, so no move commits between its count and this."""
    with transaction.atomic():
        rows = (
            OrganisationTotal.objects.select_for_update()
            .filter(campaign_id=campaign_id)
            .order_by("organisation_id", "shard")
        )
        current: dict[int, dict[str, int]] = {}
        for row in rows:
            sums = current.setdefault(row.organisation_id, dict.fromkeys(TOTAL_FIELDS, 0))
            for field in TOTAL_FIELDS:
                sums[field] += getattr(row, field)
        wrong = 0
        for organisation_id in sorted(set(current) | set(exact)):
            want = {field: exact.get(organisation_id, {}).get(field, 0) for field in TOTAL_FIELDS}
            if current.get(organisation_id, dict.fromkeys(TOTAL_FIELDS, 0)) == want:
                continue
            wrong += 1
            OrganisationTotal.objects.filter(
                campaign_id=campaign_id, organisation_id=organisation_id
            ).delete()
            if any(want.values()):
                OrganisationTotal.objects.create(
                    campaign_id=campaign_id, organisation_id=organisation_id, shard=0, **want
                )
    return wrong


def suggestion_name_key(name: str) -> str:
    """One key per name however it is cased or spaced: 'Riverside  HOMES' is 'riverside homes'."""
    return " ".join(name.casefold().split())


def organisation_suggestion_get_or_create(*, name: str) -> OrganisationSuggestion:
    """The suggestion for a name typed on the form that the directory does not hold, made
    the first time anyone types it; later pledges naming it join the same one (a racing
    first one finds the row the other made: name_key is unique)."""
    name = " ".join(name.split())
    suggestion, _ = OrganisationSuggestion.objects.get_or_create(
        name_key=suggestion_name_key(name)[:200], defaults={"name": name[:200]}
    )
    return suggestion
