"""Pointing pledges at another directory entry: merging duplicates, accepting or mapping a
typed name (OrganisationSuggestion), correcting one pledge.

Here rather than in organisations because it moves pledges, and pledges sit above the
directory. Every move locks the pledges it moves (in id order, as every other pledge
move does), moves their organisations' counters by what those very pledges count, and
commits both together, so the counters stay exact without a recount."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone

from organisations.models import (
    Organisation,
    OrganisationCampaign,
    OrganisationDomain,
    OrganisationSuggestion,
    SuggestionStatus,
)
from organisations.selectors import domain_and_parents
from organisations.services import organisation_create, organisation_totals_apply
from pledges.models import PUBLIC_STATES, Pledge, Verified
from pledges.selectors import wall_changed
from pledges.services import organisation_counts

# Pledges are re-pointed this many at a time: one UPDATE per batch, whatever the organisation's size.
MOVE_BATCH = 1000


class OrganisationMoveRefused(Exception):
    """The move cannot be made as asked; the message says why, for the organiser."""


@dataclass(frozen=True)
class PledgesMoved:
    pledges: int
    campaigns: frozenset[int]


def _pledges_repoint(
    *, pledges: QuerySet[Pledge], organisation: Organisation, leaving: frozenset[int] = frozenset()
) -> PledgesMoved:
    """Point these pledges at `organisation` and move the counters they count in.

    The pledges are locked first: one whose status is moving meanwhile (a confirmation, a
    moderation decision, an answer) finishes and commits its own counter move before we
    read it, and any move after ours finds the pledge at its new organisation. The
    counters of organisations `leaving` (about to be deleted) are left as they are."""
    rows = list(
        pledges.select_for_update()
        .order_by("pk")
        .values_list(
            "pk",
            "campaign_id",
            "status",
            "org_id",
            "sector_mask",
            "outcome",
            "verified",
            "email_canonical",
            "confirmed_at",
        )
    )
    own_domains = set(
        OrganisationDomain.objects.filter(organisation=organisation).values_list("domain", flat=True)
    )
    deltas: dict[int, dict[int, dict[str, int]]] = {}
    by_verified: dict[str, list[int]] = {}
    public_campaigns: set[int] = set()
    for pk, campaign_id, status, org_id, sector_mask, outcome, verified, email, confirmed_at in rows:
        if status in PUBLIC_STATES and org_id != organisation.pk:
            public_campaigns.add(campaign_id)
            campaign_deltas = deltas.setdefault(campaign_id, {})
            for field, n in organisation_counts(sector_mask=sector_mask, outcome=outcome).items():
                if org_id is not None and org_id not in leaving:
                    old = campaign_deltas.setdefault(org_id, {})
                    old[field] = old.get(field, 0) - n
                new = campaign_deltas.setdefault(organisation.pk, {})
                new[field] = new.get(field, 0) + n
        badge = _verified_at(
            organisation_domains=own_domains,
            verified=verified,
            email=email,
            confirmed=confirmed_at is not None,
        )
        by_verified.setdefault(badge, []).append(pk)
    for verified, pks in by_verified.items():
        for start in range(0, len(pks), MOVE_BATCH):
            Pledge.objects.filter(pk__in=pks[start : start + MOVE_BATCH]).update(
                org=organisation, verified=verified
            )
    for campaign_id in sorted(deltas):
        organisation_totals_apply(campaign_id=campaign_id, deltas=deltas[campaign_id])
    for campaign_id in sorted(public_campaigns):
        # Cards on the wall name the organisation: pages cached before are stale.
        transaction.on_commit(lambda campaign_id=campaign_id: wall_changed(campaign_id=campaign_id))
    return PledgesMoved(pledges=len(rows), campaigns=frozenset(public_campaigns))


def _verified_at(*, organisation_domains: set[str], verified: str, email: str, confirmed: bool) -> str:
    """What a pledge's badge says once it counts for another organisation: staff of it when
    the confirming address's domain is one of its own; a shared domain's badge stays; staff
    of the old organisation no longer says anything. An unconfirmed pledge is verified when
    it confirms, against the organisation it then counts for."""
    if not confirmed:
        return verified
    if any(candidate in organisation_domains for candidate in domain_and_parents(email.rpartition("@")[2])):
        return Verified.STAFF
    return "" if verified == Verified.STAFF else verified


def organisations_merge(*, keep: Organisation, others: Iterable[Organisation]) -> PledgesMoved:
    """Merge duplicates into `keep`: their pledges, domains, suggestions and page settings
    move to it (keep's own page settings win in a campaign both have), and they are deleted.
    Counters move with the pledges in the same transaction."""
    other_ids = sorted({organisation.pk for organisation in others} - {keep.pk})
    if not other_ids:
        raise OrganisationMoveRefused(f"Choose at least one other organisation to merge into {keep.name}.")
    try:
        with transaction.atomic():
            moved = _organisations_merge(keep=keep, other_ids=other_ids)
    except (ProtectedError, IntegrityError) as error:
        # A pledge was made for one of them while merging (PostgreSQL checks the foreign
        # key when the merge commits): nothing was merged.
        raise OrganisationMoveRefused(
            "The directory changed while merging (a pledge arrived for one of them); nothing was merged. "
            "Try again."
        ) from error
    return moved


def _organisations_merge(*, keep: Organisation, other_ids: list[int]) -> PledgesMoved:
    # Two merges of the same organisations queue here. NO KEY: a pledge or counter row
    # being made for one of them meanwhile (which locks it FOR KEY SHARE, holding its
    # pledge's lock) must not wait for us while we wait for its pledge.
    found = Organisation.objects.select_for_update(no_key=True).filter(pk__in=[keep.pk, *other_ids])
    if len(found.order_by("pk")) != len(other_ids) + 1:
        raise OrganisationMoveRefused(
            "One of those organisations has been deleted meanwhile; nothing was merged."
        )
    OrganisationDomain.objects.filter(organisation_id__in=other_ids).update(organisation=keep)
    moved = _pledges_repoint(
        pledges=Pledge.objects.filter(org_id__in=other_ids), organisation=keep, leaving=frozenset(other_ids)
    )
    OrganisationSuggestion.objects.filter(organisation_id__in=other_ids).update(organisation=keep)
    has_page = set(
        OrganisationCampaign.objects.filter(organisation=keep).values_list("campaign_id", flat=True)
    )
    for page in OrganisationCampaign.objects.filter(organisation_id__in=other_ids).order_by("pk"):
        if page.campaign_id not in has_page:
            has_page.add(page.campaign_id)
            OrganisationCampaign.objects.filter(pk=page.pk).update(organisation=keep)
    # Their counter rows and remaining page settings go with them.
    Organisation.objects.filter(pk__in=other_ids).delete()
    return moved


def _suggestion_locked(suggestion: OrganisationSuggestion) -> OrganisationSuggestion:
    # NO KEY: a pledger naming it meanwhile (a pledge row pointing at it) need not wait for us.
    locked = OrganisationSuggestion.objects.select_for_update(no_key=True).filter(pk=suggestion.pk).first()
    if locked is None:
        raise OrganisationMoveRefused("That suggestion no longer exists.")
    if locked.status != SuggestionStatus.OPEN:
        raise OrganisationMoveRefused(
            f"'{locked.name}' has already been {locked.get_status_display().lower()}."
        )
    return locked


def _suggestion_pledges(suggestion: OrganisationSuggestion) -> QuerySet[Pledge]:
    # Pledges that chose a directory entry as well keep it: the suggestion is only their typing.
    return Pledge.objects.filter(org_suggestion=suggestion, org__isnull=True)


def suggestion_accept(
    *,
    suggestion: OrganisationSuggestion,
    code: str,
    kind: str,
    region: str,
    name: str = "",
    postcode: str = "",
    headcount: int | None = None,
    domains: Sequence[str] = (),
) -> Organisation:
    """Make the suggestion a directory entry (the organiser gives its code, kind and region;
    its name unless given) and count its pledges for it. Raises OrganisationMoveRefused, or
    organisations.services.OrganisationInvalid for a code, kind... the directory refuses."""
    with transaction.atomic():
        locked = _suggestion_locked(suggestion)
        organisation = organisation_create(
            code=code,
            name=name or locked.name,
            kind=kind,
            region=region,
            postcode=postcode,
            headcount=headcount,
            domains=domains,
        )
        _pledges_repoint(pledges=_suggestion_pledges(locked), organisation=organisation)
        OrganisationSuggestion.objects.filter(pk=locked.pk).update(
            status=SuggestionStatus.ACCEPTED, organisation=organisation, resolved_at=timezone.now()
        )
    return organisation


def suggestion_map(*, suggestion: OrganisationSuggestion, organisation: Organisation) -> PledgesMoved:
    """The typed name is an organisation the directory holds: its pledges count for that one."""
    with transaction.atomic():
        locked = _suggestion_locked(suggestion)
        if not Organisation.objects.select_for_update(no_key=True).filter(pk=organisation.pk).exists():
            raise OrganisationMoveRefused(f"{organisation.name} has been deleted meanwhile.")
        moved = _pledges_repoint(pledges=_suggestion_pledges(locked), organisation=organisation)
        OrganisationSuggestion.objects.filter(pk=locked.pk).update(
            status=SuggestionStatus.MAPPED, organisation=organisation, resolved_at=timezone.now()
        )
    return moved


def pledge_organisation_set(*, pledge: Pledge, organisation: Organisation) -> None:
    """Count one pledge for another directory entry (an organiser's correction, the demo)."""
    with transaction.atomic():
        _pledges_repoint(pledges=Pledge.objects.filter(pk=pledge.pk), organisation=organisation)
        pledge.org = organisation
