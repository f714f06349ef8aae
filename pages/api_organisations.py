"""Organisations in the public API (/api/v1/): the directory, an organisation's totals in a
campaign, and the league tables. Public facts about organisations only (their names, kinds,
regions, headcounts and staff email domains) and counts: never a pledger or an address.

Here in the pages layer because the league is read through the cache the league page shares
(pages.organisations), kept under the wall's generation (pledges)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from campaigns.models import Campaign, Region
from campaigns.selectors import campaign_for_visitors
from changeday.lib.dbrouter import replica_or_primary
from organisations.models import Organisation, OrganisationKind
from organisations.selectors import (
    LEAGUE_MAX_PAGE_SIZE,
    LEAGUE_ORDERS,
    LEAGUE_PAGE_SIZE,
    ORGANISATION_SLUG_RE,
    BadLeagueQuery,
    LeagueFilters,
    LeagueRow,
    organisation_counts_in_campaign,
    organisation_get_by_slug,
    organisation_page_get,
)
from pages.organisations import cached_for_campaign, league_cached

router = Router(tags=["organisations"])

MAX_SEARCH = 100
MAX_PAGE = 10_000
NO_NULLS = "^[^\\u0000]*$"


class ErrorOut(Schema):
    """Every refusal: one sentence a person can act on."""

    detail: str


class OrganisationOut(Schema):
    slug: str = Field(description="The organisation's address on this site.")
    code: str = Field(
        description="Its own code: an ODS code for NHS bodies, a council's GSS code, a regulator's."
    )
    name: str
    kind: str = Field(description="NHS trust, integrated care board, GP practice, council, and so on.")
    region: str
    postcode: str
    headcount: int | None = Field(description="Staff, when known; null otherwise.")
    domains: list[str] = Field(
        description="Email domains its staff use: a pledge confirmed from one shows 'verified: staff'."
    )


class DirectoryPageOut(Schema):
    results: list[OrganisationOut]
    count: int = Field(description="Organisations matching the search and filters, on every page together.")
    next_page: int | None = Field(description="The page to ask for next; null on the last page.")


class OrganisationTotalsOut(Schema):
    pledges: int = Field(description="Published pledges that count for the organisation in the campaign.")
    by_sector: dict[str, int] = Field(
        description="By sector (nhs, social-care, housing, patient-carer); a pledge can touch several."
    )
    done: int = Field(description="Of those, pledges whose pledger said they did it.")
    started: int = Field(description="Of those, pledges whose pledger said it is under way.")


class OrganisationInCampaignOut(Schema):
    campaign: str
    organisation: OrganisationOut
    totals: OrganisationTotalsOut
    welcome: str = Field(
        description="A welcome line organisers set for the organisation's page; may be empty."
    )
    contact_name: str = Field(
        description="Who to ask there about the campaign, as organisers set it; may be empty."
    )
    url: str = Field(description="The organisation's page in the campaign.")


class LeagueRowOut(Schema):
    rank: int = Field(description="Organisations level on the ranking's figure share a rank (1, 2, 2, 4).")
    slug: str
    name: str
    kind: str
    region: str
    headcount: int | None
    pledges: int
    done: int
    started: int
    per_100_staff: float | None = Field(
        description="Published pledges per 100 staff; null when headcount is unknown."
    )
    url: str


class LeagueOut(Schema):
    campaign: str
    per: Literal["pledges", "staff"]
    results: list[LeagueRowOut]
    count: int = Field(description="Organisations in this ranking, on every page together.")
    left_out: int = Field(
        description="per=staff only: organisations taking part left out because their headcount is unknown."
    )
    next_page: int | None


def _campaign_or_404(slug: str) -> Campaign:
    # Public reads, as the pages: the campaign as this process read it in the last moments.
    campaign = campaign_for_visitors(slug)
    if campaign is None:
        raise HttpError(404, "There is no campaign at that address.")
    return campaign


def _organisation_out(organisation: Organisation) -> dict[str, Any]:
    return {
        "slug": organisation.slug,
        "code": organisation.code,
        "name": organisation.name,
        "kind": organisation.kind,
        "region": organisation.region,
        "postcode": organisation.postcode,
        "headcount": organisation.headcount,
        # Prefetched: one query for every organisation of the page.
        "domains": [domain.domain for domain in organisation.domains.all()],
    }


def _organisations_url(campaign: Campaign) -> str:
    """The campaign's organisations' address, which each organisation's page is under: reversed
    once for a page of rows (a reverse() per row was most of the league's time)."""
    return settings.SITE_URL + reverse("pages:organisations", kwargs={"slug": campaign.slug})


def _documented(description: str, **schema: Any) -> Any:
    # As pledges.api: described for the OpenAPI document; the filters check the values
    # themselves, with the pages' messages.
    param = Query("", description=description)
    param.json_schema_extra.update(schema)
    return param


@router.get(
    "/organisations/",
    response={200: DirectoryPageOut, 400: ErrorOut},
    summary="The directory of organisations, A to Z",
    description="Every organisation in the directory, whether or not it has pledged yet, a page at a time.",
)
def organisation_directory(
    request: HttpRequest,
    q: str = _documented(
        "Words in the organisation's name, or its code.", maxLength=MAX_SEARCH, pattern=NO_NULLS
    ),
    kind: str = _documented("Only organisations of this kind.", enum=["", *OrganisationKind.values]),
    region: str = _documented("Only organisations in this region.", enum=["", *Region.values]),
    page: int = Query(1, ge=1, le=MAX_PAGE, description="Which page, from 1."),  # noqa: B008 - ninja's marker
    limit: int = Query(LEAGUE_PAGE_SIZE, ge=1, le=LEAGUE_MAX_PAGE_SIZE),  # noqa: B008 - ninja's marker
) -> dict[str, Any]:
    try:
        filters = LeagueFilters.from_query({"kind": kind, "region": region})
    except BadLeagueQuery as exc:
        raise HttpError(400, str(exc)) from exc
    q = " ".join(q.split())
    if len(q) > MAX_SEARCH or "\x00" in q:
        raise HttpError(400, f"Keep searches to {MAX_SEARCH} characters or fewer, without null characters.")
    found = Organisation.objects.using(replica_or_primary()).all()
    if filters.kind:
        found = found.filter(kind=filters.kind)
    if filters.region:
        found = found.filter(region=filters.region)
    for word in q.split()[:10]:
        # A directory of thousands, read a page at a time: each word in the name, or the code.
        found = found.filter(Q(name__icontains=word) | Q(code__iexact=word))
    offset = (page - 1) * limit
    rows = list(found.order_by("name", "pk").prefetch_related("domains")[offset : offset + limit + 1])
    return {
        "results": [_organisation_out(organisation) for organisation in rows[:limit]],
        "count": found.count(),
        "next_page": page + 1 if len(rows) > limit else None,
    }


@router.get(
    "/campaigns/{slug}/organisations/{org_slug}",
    response={200: OrganisationInCampaignOut, 404: ErrorOut},
    summary="An organisation and its totals in a campaign",
    description=(
        "Its published pledges in the campaign, by sector, and how many became changes (done or "
        "started), from the same live counters as the campaign's totals."
    ),
)
def organisation_in_campaign(request: HttpRequest, slug: str, org_slug: str) -> HttpResponse:
    campaign = _campaign_or_404(slug)
    if not ORGANISATION_SLUG_RE.fullmatch(org_slug):
        raise _no_such_organisation()
    # Keyed by the slug: only an organisation that exists gets an answer kept (an unknown slug
    # raises inside and stores nothing), so the keys are bounded by the directory.
    return _json_answer(
        f"api-organisation:{org_slug}",
        campaign=campaign,
        payload=lambda: _organisation_in_campaign(campaign, org_slug),
    )


def _no_such_organisation() -> HttpError:
    return HttpError(404, "There is no organisation at that address.")


def _json_answer(what: str, *, campaign: Campaign, payload: Callable[[], dict[str, Any]]) -> HttpResponse:
    """The answer's JSON, kept as the organisation's page and the league are (until a pledge
    joins or leaves the wall): a burst of polls costs one cache read each, not the queries and
    the schema's validation of every row again. The schema still documents it (OpenAPI), and
    the tests hold the JSON to it."""
    body = cached_for_campaign(
        what,
        campaign=campaign,
        compute=lambda: json.dumps(payload(), cls=DjangoJSONEncoder, separators=(",", ":")),
    )
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    # Made here rather than by the API instance, which adds it to what it makes itself.
    response["Access-Control-Allow-Origin"] = "*"
    return response


def _organisation_in_campaign(campaign: Campaign, org_slug: str) -> dict[str, Any]:
    organisation = organisation_get_by_slug(org_slug)
    if organisation is None:
        raise _no_such_organisation()
    counts = organisation_counts_in_campaign(campaign_id=campaign.pk, organisation_id=organisation.pk)
    page = organisation_page_get(campaign_id=campaign.pk, organisation_id=organisation.pk)
    return {
        "campaign": campaign.slug,
        "organisation": _organisation_out(organisation),
        "totals": {
            "pledges": counts.pledges,
            "by_sector": counts.by_sector,
            "done": counts.done,
            "started": counts.started,
        },
        "welcome": page.welcome if page else "",
        "contact_name": page.contact_name if page else "",
        "url": f"{_organisations_url(campaign)}{organisation.slug}/",
    }


def _league_row_out(organisations_url: str, row: LeagueRow) -> dict[str, Any]:
    return {
        "rank": row.rank,
        "slug": row.slug,
        "name": row.name,
        "kind": row.kind,
        "region": row.region,
        "headcount": row.headcount,
        "pledges": row.pledges,
        "done": row.done,
        "started": row.started,
        "per_100_staff": row.per_100_staff,
        "url": f"{organisations_url}{row.slug}/",
    }


@router.get(
    "/campaigns/{slug}/league",
    response={200: LeagueOut, 400: ErrorOut, 404: ErrorOut},
    summary="The league table: organisations ranked by published pledges",
    description=(
        "Organisations with at least one published pledge in the campaign, ranked by their published "
        "pledges (per=pledges) or by pledges per 100 staff (per=staff, which leaves out organisations "
        "whose headcount is unknown and says how many in left_out). Ties share a rank and are listed "
        "by name. Read from the organisations' live counters."
    ),
)
def campaign_league(
    request: HttpRequest,
    slug: str,
    kind: str = _documented("Only organisations of this kind.", enum=["", *OrganisationKind.values]),
    region: str = _documented("Only organisations in this region.", enum=["", *Region.values]),
    per: str = _documented("pledges (the default) or staff: per 100 staff.", enum=["", *LEAGUE_ORDERS]),
    page: int = Query(1, ge=1, le=MAX_PAGE, description="Which page, from 1."),  # noqa: B008 - ninja's marker
    limit: int = Query(LEAGUE_PAGE_SIZE, ge=1, le=LEAGUE_MAX_PAGE_SIZE),  # noqa: B008 - ninja's marker
) -> HttpResponse:
    campaign = _campaign_or_404(slug)
    try:
        filters = LeagueFilters.from_query({"kind": kind, "region": region, "per": per})
    except BadLeagueQuery as exc:
        raise HttpError(400, str(exc)) from exc
    return _json_answer(
        f"api-league:{filters.kind}:{filters.region}:{filters.per}:{page}:{limit}",
        campaign=campaign,
        payload=lambda: _league(campaign, filters, page=page, limit=limit),
    )


def _league(campaign: Campaign, filters: LeagueFilters, *, page: int, limit: int) -> dict[str, Any]:
    offset = (page - 1) * limit
    league = league_cached(campaign=campaign, filters=filters, offset=offset, limit=limit)
    organisations_url = _organisations_url(campaign)
    return {
        "campaign": campaign.slug,
        "per": filters.per,
        "results": [_league_row_out(organisations_url, row) for row in league.rows],
        "count": league.count,
        "left_out": league.left_out,
        "next_page": page + 1 if offset + limit < league.count else None,
    }
