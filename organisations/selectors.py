"""Reads of the directory (which organisation a domain belongs to, the type-ahead) and of
organisations' counters per campaign (their pages, the league tables, the API)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS
from django.db.models import Count, ExpressionWrapper, F, FloatField, Q, QuerySet, Sum, Window
from django.db.models.functions import Cast, Coalesce, Length, Lower, Rank

from campaigns.models import Campaign, Region
from organisations.models import (
    TOTAL_FIELDS,
    Organisation,
    OrganisationCampaign,
    OrganisationDomain,
    OrganisationKind,
    OrganisationTotal,
    suggestion_name_key,
)

# What an organisation's slug can be (Django's slug, at most the column's length): a null
# character or 5,000 characters never reach a query.
# Domains a great many unrelated people share: listing one would make everyone using it
# "verified staff" of one organisation (a listed domain covers its subdomains too). A
# campaign's shared staff domains (nhs.net) are refused by the same rule.
SHARED_DOMAINS = frozenset(
    {
        "uk", "co.uk", "org.uk", "ac.uk", "gov.uk", "nhs.uk", "ltd.uk", "plc.uk", "me.uk", "net.uk",
        "sch.uk", "police.uk", "mod.uk", "nhs.net", "scot", "gov.scot", "wales", "cymru", "gov.wales",
        "com", "org", "net", "info", "gmail.com", "googlemail.com", "hotmail.com", "hotmail.co.uk",
        "outlook.com", "live.com", "live.co.uk", "msn.com", "yahoo.com", "yahoo.co.uk", "icloud.com",
        "me.com", "aol.com", "aol.co.uk", "btinternet.com", "sky.com", "virginmedia.com", "talktalk.net",
        "protonmail.com", "proton.me", "mail.com", "gmx.com", "gmx.co.uk",
    }
)  # fmt: skip

ORGANISATION_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{1,120}")


def domain_and_parents(domain: str) -> list[str]:
    """staff.leedsth.nhs.uk, leedsth.nhs.uk, nhs.uk, uk: a listed domain covers its subdomains."""
    labels = domain.lower().strip(".").split(".")
    return [".".join(labels[start:]) for start in range(len(labels))]


def domain_listed(*, domain: str, listed: Iterable[str]) -> bool:
    wanted = {entry.strip().lower().strip(".") for entry in listed if entry.strip()}
    return any(candidate in wanted for candidate in domain_and_parents(domain))


def organisation_has_domain(*, organisation_id: int, domain: str) -> bool:
    return OrganisationDomain.objects.filter(
        organisation_id=organisation_id, domain__in=domain_and_parents(domain)
    ).exists()


def shared_domains() -> frozenset[str]:
    """Domains no one organisation may have: SHARED_DOMAINS and every campaign's shared staff domains."""
    listed = {
        entry.strip().lower().strip(".")
        for text in Campaign.objects.exclude(staff_domains="").values_list("staff_domains", flat=True)
        for entry in re.split(r"[\s,]+", text)
        if entry.strip()
    }
    return SHARED_DOMAINS | listed


# --- The type-ahead and the form's choices --------------------------------------------

SEARCH_RESULTS = 10
# Longer than any name in the directory (Organisation.name): a longer query matches nothing.
SEARCH_MAX = 200


def _search_key(query: str) -> str:
    # What Lower(name) is compared with: lower-case, one space between words.
    return " ".join(query.lower().split())


def organisation_search(*, query: str, limit: int = SEARCH_RESULTS) -> list[tuple[str, str]]:
    """(name, slug) of up to `limit` organisations whose name starts with `query`, then of
    those with a later word starting with it, each part in name order, any case: at most
    two queries whatever the directory holds.

    The first reads the Lower(name) index (organisation_name_lower_idx) as a range; LIKE
    alone uses it only under the C collation, and the range keeps it usable under any.
    A word inside a name cannot be looked up in that index: the second reads the
    directory (a few thousand short rows), and only when the first found too few."""
    key = _search_key(query)
    # PostgreSQL refuses a null character with an error, not an empty answer.
    if not key or len(key) > SEARCH_MAX or "\x00" in key or ord(key[-1]) >= 0x10FFFF:
        return []
    names = Organisation.objects.annotate(name_lower=Lower("name"))
    after = key[:-1] + chr(ord(key[-1]) + 1)
    found = list(
        names.filter(name_lower__gte=key, name_lower__lt=after, name_lower__startswith=key)
        .order_by("name_lower", "slug")
        .values_list("name", "slug")[:limit]
    )
    if len(found) < limit:
        seen = {slug for _, slug in found}
        inside = (
            names.filter(name_lower__contains=f" {key}")
            .exclude(name_lower__startswith=key)
            .order_by("name_lower", "slug")
            .values_list("name", "slug")[: limit - len(found)]
        )
        found += [(name, slug) for name, slug in inside if slug not in seen]
    return found


def organisation_by_slug(*, slug: str) -> Organisation | None:
    return Organisation.objects.filter(slug=slug).first()


def organisation_named(*, name: str, using: str = DEFAULT_DB_ALIAS) -> Organisation | None:
    """The one organisation with exactly this name (any case, spaces collapsed), else the one
    whose name folds, by the directory's one rule (suggestion_name_key), to what `name` folds
    to: "riverside homes ltd." is Riverside Homes. None when none does or several share it
    (two GP practices called 'Riverside Surgery'). The pledge form counts a typed name for
    it and the wall's filter shows its pledges, so the two never disagree. One query."""
    exact = _search_key(name)
    if not exact or "\x00" in exact:
        return None
    key = suggestion_name_key(name)
    wanted = Q(name_lower=exact)
    folded = _folded_names(key)
    if folded is not None:
        wanted |= folded
    candidates = list(
        Organisation.objects.using(using)
        .annotate(name_lower=Lower("name"), name_length=Length("name"))
        .filter(wanted)
    )
    same = [organisation for organisation in candidates if organisation.name_lower == exact]
    if len(same) == 1:
        # Exactly its name: "Oak Surgery" beside an "Oak Surgery Ltd" folding alike.
        return same[0]
    alike = [organisation for organisation in candidates if suggestion_name_key(organisation.name) == key]
    return alike[0] if len(alike) == 1 else None


# What suggestion_name_key drops from a name's end: " limited" and trailing dots, commas
# and spaces. A name longer than its key by more than this does not fold to it.
_FOLDED_SUFFIX_ROOM = 16


def _folded_names(key: str) -> Q | None:
    """The names that may fold to `key` (suggestion_name_key), over name_lower and
    name_length: those starting with it (a range of organisation_name_lower_idx) no longer
    than it and a suffix. The caller checks each with the rule itself, so a name can never
    fold differently from the suggestions. None for a key no name can fold to."""
    if not key or len(key) > SEARCH_MAX or "\x00" in key or ord(key[-1]) >= 0x10FFFF:
        return None
    after = key[:-1] + chr(ord(key[-1]) + 1)
    return Q(
        name_lower__gte=key,
        name_lower__lt=after,
        name_lower__startswith=key,
        name_length__lte=len(key) + _FOLDED_SUFFIX_ROOM,
    )


# --- Organisations' counters in a campaign: pages, the league tables, the API -----------------
#
# Everything below reads OrganisationTotal (a few shard rows per organisation), grouped over the
# shards, never the pledges: the cost follows the number of organisations taking part, not the
# number of pledges, and each read is one query.

# The counted fields as the API and pages name the sectors (slugs, as the campaign's totals do).
SECTOR_FIELDS: dict[str, str] = {
    "nhs": "nhs",
    "social-care": "social_care",
    "housing": "housing",
    "patient-carer": "patient_carer",
}
LEAGUE_BY_PLEDGES = "pledges"
LEAGUE_BY_STAFF = "staff"
LEAGUE_ORDERS: tuple[str, ...] = (LEAGUE_BY_PLEDGES, LEAGUE_BY_STAFF)
LEAGUE_PAGE_SIZE = 50
LEAGUE_MAX_PAGE_SIZE = 100


class BadLeagueQuery(ValueError):
    """A filter the league or the index cannot use; the message is for people."""


@dataclass(frozen=True)
class OrganisationCounts:
    """One organisation's live counters in one campaign, summed over its shards."""

    pledges: int = 0
    nhs: int = 0
    social_care: int = 0
    housing: int = 0
    patient_carer: int = 0
    done: int = 0
    started: int = 0

    @property
    def by_sector(self) -> dict[str, int]:
        return {slug: getattr(self, name) for slug, name in SECTOR_FIELDS.items()}

    @property
    def changed(self) -> int:
        return self.done + self.started


def organisation_counts_in_campaign(*, campaign_id: int, organisation_id: int) -> OrganisationCounts:
    sums = OrganisationTotal.objects.filter(
        campaign_id=campaign_id, organisation_id=organisation_id
    ).aggregate(**{name: Coalesce(Sum(name), 0) for name in TOTAL_FIELDS})
    return OrganisationCounts(**sums)


def organisation_get_by_slug(slug: str) -> Organisation | None:
    """The organisation at this slug, or None; checked before the query as campaigns' are."""
    if not ORGANISATION_SLUG_RE.fullmatch(slug):
        return None
    return Organisation.objects.filter(slug=slug).first()


def organisation_page_get(*, campaign_id: int, organisation_id: int) -> OrganisationCampaign | None:
    """The welcome line and contact name organisers set for this organisation's page, if any."""
    return OrganisationCampaign.objects.filter(
        campaign_id=campaign_id, organisation_id=organisation_id
    ).first()


@dataclass(frozen=True)
class LeagueFilters:
    kind: str = ""
    region: str = ""
    per: str = LEAGUE_BY_PLEDGES

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> LeagueFilters:
        kind = query.get("kind", "").strip()
        region = query.get("region", "").strip()
        per = query.get("per", "").strip() or LEAGUE_BY_PLEDGES
        if kind and kind not in OrganisationKind.values:
            raise BadLeagueQuery("Choose a kind of organisation from the list.")
        if region and region not in Region.values:
            raise BadLeagueQuery("Choose a region from the list.")
        if per not in LEAGUE_ORDERS:
            raise BadLeagueQuery("Rank by pledges (per=pledges) or by pledges per 100 staff (per=staff).")
        return cls(kind=kind, region=region, per=per)

    def as_query(self) -> dict[str, str]:
        pairs = {"kind": self.kind, "region": self.region}
        if self.per != LEAGUE_BY_PLEDGES:
            pairs["per"] = self.per
        return {key: value for key, value in pairs.items() if value}


@dataclass(frozen=True)
class LeagueRow:
    """An organisation taking part, with its counters in the campaign. `rank` is shared by
    organisations level on the ranking's figure (1, 2, 2, 4), listed by name among themselves;
    0 where no ranking was asked for (the index)."""

    rank: int
    slug: str
    name: str
    kind: str
    region: str
    headcount: int | None
    pledges: int
    done: int
    started: int

    @property
    def kind_label(self) -> str:
        return OrganisationKind(self.kind).label

    @property
    def region_label(self) -> str:
        return Region(self.region).label

    @property
    def per_100_staff(self) -> float | None:
        if not self.headcount:
            return None
        return round(100 * self.pledges / self.headcount, 1)


@dataclass(frozen=True)
class LeaguePage:
    rows: list[LeagueRow]
    # Organisations taking part that this page's filters leave in (all pages together).
    count: int
    # In the per-100-staff ranking: those taking part whose headcount is unknown, left out.
    left_out: int = 0


def _taking_part(*, campaign_id: int, filters: LeagueFilters) -> QuerySet[Organisation]:
    """The organisations with at least one published pledge in the campaign, each with its
    counters summed over its shards (`total`, `done_sum`, `started_sum`), and how many there
    are in all on every row (`taking_part`, a window over the whole answer), so one query
    gives a page and the count. Grouped by the organisation's key alone (PostgreSQL knows
    its other columns follow from it): a hash of a few thousand narrow rows, no sort of names."""
    rows = Organisation.objects.filter(totals__campaign_id=campaign_id)
    if filters.kind:
        rows = rows.filter(kind=filters.kind)
    if filters.region:
        rows = rows.filter(region=filters.region)
    return (
        rows.only("slug", "name", "kind", "region", "headcount")
        .annotate(
            total=Sum("totals__pledges"), done_sum=Sum("totals__done"), started_sum=Sum("totals__started")
        )
        .filter(total__gt=0)
    )


def _league_row(organisation: Any) -> LeagueRow:
    return LeagueRow(
        rank=getattr(organisation, "rank", 0),
        slug=organisation.slug,
        name=organisation.name,
        kind=organisation.kind,
        region=organisation.region,
        headcount=organisation.headcount,
        pledges=organisation.total,
        done=organisation.done_sum,
        started=organisation.started_sum,
    )


def _page(rows: QuerySet[Organisation], *, offset: int, limit: int) -> tuple[list[LeagueRow], int]:
    """One page of `rows` and how many there are in all: one query, or two for a page past
    the end (which has no row to carry the count)."""
    found = list(rows.annotate(taking_part=Window(expression=Count("*")))[offset : offset + limit])
    if found:
        return [_league_row(organisation) for organisation in found], found[0].taking_part
    return [], rows.order_by().count() if offset else 0


def league_table(
    *, campaign: Campaign, filters: LeagueFilters, offset: int = 0, limit: int = LEAGUE_PAGE_SIZE
) -> LeaguePage:
    """Organisations ranked by published pledges, or by pledges per 100 staff among those
    whose headcount is known; ties share a rank and are listed by name. One query (a second
    for per 100 staff: how many were left out) whatever the numbers of organisations or
    pledges (pages.organisations keeps the answer in the shared cache)."""
    rows = _taking_part(campaign_id=campaign.pk, filters=filters)
    left_out = 0
    if filters.per == LEAGUE_BY_STAFF:
        left_out = rows.filter(headcount__isnull=True).order_by().count()
        rows = rows.filter(headcount__isnull=False)
        figure: Any = ExpressionWrapper(
            Cast(F("total"), FloatField()) / F("headcount"), output_field=FloatField()
        )
    else:
        figure = F("total")
    ranked = rows.annotate(figure=figure).annotate(
        rank=Window(expression=Rank(), order_by=F("figure").desc())
    )
    found, count = _page(ranked.order_by("-figure", "name", "pk"), offset=offset, limit=limit)
    return LeaguePage(rows=found, count=count, left_out=left_out)


def organisations_taking_part(
    *, campaign: Campaign, filters: LeagueFilters, offset: int = 0, limit: int = LEAGUE_PAGE_SIZE
) -> LeaguePage:
    """The index: organisations with at least one published pledge, alphabetical, with their
    counts; one query whatever the numbers of organisations or pledges."""
    rows = _taking_part(campaign_id=campaign.pk, filters=filters).order_by("name", "pk")
    found, count = _page(rows, offset=offset, limit=limit)
    return LeaguePage(rows=found, count=count)
