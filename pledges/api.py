"""Routes of the public read-only API (/api/v1/): thin, reading through selectors.

Published data only: never an email, an IP, a database id or an unpublished pledge.

CORS: every answer carries `Access-Control-Allow-Origin: *` (see changeday.api).
No OPTIONS preflight is needed and none is served: these are simple GETs with no
custom request headers, which browsers send cross-origin without a preflight (a
browser revalidating its own cache adds If-None-Match itself, also without one).
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import date, datetime
from typing import Any, Literal

from django.conf import settings
from django.core.cache import cache
from django.core.serializers.json import DjangoJSONEncoder
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import parse_etags
from ninja import Field, Query, Router, Schema
from ninja.errors import HttpError

from campaigns.models import Campaign
from campaigns.selectors import SLUG_RE, campaign_get_by_slug
from changeday.lib.cache import ProcessMemo
from changeday.lib.dbrouter import replica_or_primary
from pledges.models import SECTOR_BITS, Kind, Pledge, Region, Verified
from pledges.selectors import (
    INTEGRATION_OFF,
    INTEGRATION_ON,
    MAX_SEARCH,
    OUTCOME_FILTERS,
    WALL_ORDERS,
    WALL_PAGE_SIZE,
    BadWallQuery,
    WallFilters,
    campaign_totals,
    wall_pledges,
)

router = Router(tags=["campaigns"])

# Counters are read on every landing page and by embeds at peak; one second in
# the shared cache turns a burst into one shard aggregate per campaign per
# second, and with it totals stay within 2 seconds of a change.
COUNTERS_TTL_SECONDS = 1
COUNTERS_CACHE_CONTROL = "public, max-age=1, stale-while-revalidate=5"
MAX_PAGE_SIZE = 100
NO_NULLS = "^[^\\u0000]*$"


class CampaignOut(Schema):
    slug: str
    name: str
    hashtag: str
    description: str
    opens_at: datetime
    change_day: date
    deadline: datetime
    target: int
    phase: str


class OutcomeCountsOut(Schema):
    """Published pledges whose pledger told us, after Change Day, how their promise went."""

    done: int = Field(description="Pledges whose pledger said they did it.")
    started: int = Field(description="Pledges whose pledger said it is under way.")


class CountersOut(Schema):
    campaign: str
    total: int
    target: int
    by_sector: dict[str, int]
    updated_at: datetime | None
    integration: int
    by_region: dict[str, int]
    by_kind: dict[str, int]
    by_outcome: OutcomeCountsOut


class VerifiedOut(Schema):
    """What the address a pledge was confirmed from showed; the address itself is never given."""

    kind: Literal["staff", "shared-domain"] = Field(
        description=(
            "staff: the address's domain is one of the chosen organisation's own; shared-domain: "
            "it is a staff domain the campaign lists (such as nhs.net), naming no organisation."
        )
    )
    label: str = Field(
        description="What the pledge's badge says, such as 'staff at Riverside Homes' or 'NHS staff'."
    )


class PledgeOut(Schema):
    public_id: str
    text: str
    display_name: str
    role: str
    organisation: str = Field(
        description="The organisation's name: the directory's when the pledger chose one, else as typed."
    )
    organisation_slug: str | None = Field(
        description=(
            "The directory entry the pledge counts for (the organisation filter takes it), "
            "or null for a name the directory does not hold."
        )
    )
    verified: VerifiedOut | None = Field(
        description="Set when the pledge was confirmed from a staff address; null otherwise."
    )
    region: str
    kind: str
    sectors: list[str]
    published_at: datetime
    url: str
    outcome: Literal["done", "started", "not-yet", "didnt-work"] | None = Field(
        description="How the pledger said their promise went; null until they answer."
    )
    story: str | None = Field(
        description=(
            "What changed, in the pledger's words: only a story they allowed us to publish "
            "and that passed moderation, else null."
        )
    )


class ErrorOut(Schema):
    """Every refusal: one sentence a person can act on."""

    detail: str


class PledgePageOut(Schema):
    results: list[PledgeOut]
    next_cursor: str | None


def _no_such_campaign() -> HttpError:
    return HttpError(404, "There is no campaign at that address.")


def _campaign_or_404(slug: str) -> Campaign:
    campaign = campaign_get_by_slug(slug)
    if campaign is None:
        raise _no_such_campaign()
    return campaign


@router.get("/campaigns/", response=list[CampaignOut], summary="Every campaign, newest first")
def campaign_list(request: HttpRequest) -> list[dict[str, Any]]:
    now = timezone.now()
    return [
        {
            "slug": campaign.slug,
            "name": campaign.name,
            "hashtag": campaign.hashtag,
            "description": campaign.description,
            "opens_at": campaign.opens_at,
            "change_day": campaign.change_day,
            "deadline": campaign.deadline,
            "target": campaign.target,
            "phase": campaign.phase(now).value,
        }
        # A public list: the read replica when there is one.
        for campaign in Campaign.objects.using(replica_or_primary()).order_by("-opens_at", "slug")
    ]


def counters_cache_key(slug: str) -> str:
    return f"api:v2:counters:{slug}"


# Each web process keeps the body it last read from the shared cache until that
# copy's second is up: a poll then costs no Redis round trip (most of the
# endpoint's time, bench/README.md), and the totals still lag a change by no
# more than the shared copy's second.
_recent_counters: ProcessMemo[str, tuple[str, str]] = ProcessMemo()


def counters_memo_forget() -> None:
    """What this process remembers of every campaign's counters (tests start without it)."""
    _recent_counters.clear()


def counters_cache_forget(*slugs: str) -> None:
    """Drop the cached counters of these campaigns, shared and in this process."""
    cache.delete_many([counters_cache_key(slug) for slug in slugs])
    _recent_counters.forget(*slugs)


def _counters_body(slug: str) -> tuple[str, str]:
    """The counters JSON and its ETag, from the cache or one shard aggregate."""
    if not SLUG_RE.fullmatch(slug):
        # Before the cache: a hostile slug must not become a cache key.
        raise _no_such_campaign()
    now = time.time()
    recent = _recent_counters.get(slug, now=now)
    if recent is not None:
        return recent
    key = counters_cache_key(slug)
    # Redis down reads as a miss (changeday.lib.cache): the shards answer instead.
    cached = cache.get(key)
    if cached is not None:
        body, etag, fresh_until = cached
    else:
        body, etag = _counters_json(_campaign_or_404(slug))
        # The wall clock, not a monotonic one: other processes compare it too.
        fresh_until = now + COUNTERS_TTL_SECONDS
        cache.set(key, (body, etag, fresh_until), timeout=COUNTERS_TTL_SECONDS)
    # Only campaigns that exist get here, so this holds one entry per campaign.
    _recent_counters.put(slug, (body, etag), until=fresh_until)
    return body, etag


def _counters_json(campaign: Campaign) -> tuple[str, str]:
    totals = campaign_totals(campaign=campaign)
    payload = {
        "campaign": campaign.slug,
        "total": totals.total,
        "target": campaign.target,
        "by_sector": totals.by_sector,
        "updated_at": totals.updated_at,
        # Beyond the published contract; clients may ignore them.
        "integration": totals.integration,
        "by_region": totals.by_region,
        "by_kind": totals.by_kind,
        "by_outcome": totals.by_outcome,
    }
    body = json.dumps(payload, cls=DjangoJSONEncoder, separators=(",", ":"))
    etag = '"' + hashlib.sha256(body.encode()).hexdigest()[:32] + '"'
    return body, etag


@router.get(
    "/campaigns/{slug}/counters",
    response={200: CountersOut, 304: None, 404: ErrorOut},
    summary="Live totals of published pledges",
)
def campaign_counters(request: HttpRequest, slug: str) -> HttpResponse:
    body, etag = _counters_body(slug)
    matches = parse_etags(request.headers.get("If-None-Match", ""))
    if "*" in matches or etag in (tag.removeprefix("W/") for tag in matches):
        response = HttpResponse(status=304)
    else:
        response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["ETag"] = etag
    response["Cache-Control"] = COUNTERS_CACHE_CONTROL
    response["Access-Control-Allow-Origin"] = "*"
    response["Access-Control-Expose-Headers"] = "ETag"
    return response


def _verified_out(pledge: Pledge) -> dict[str, str] | None:
    if pledge.verified == Verified.STAFF and pledge.org is not None:
        return {"kind": pledge.verified, "label": f"staff at {pledge.org.name}"}
    if pledge.verified == Verified.SHARED_DOMAIN:
        return {"kind": pledge.verified, "label": pledge.campaign.staff_domains_label}
    return None


def _pledge_out(pledge: Pledge) -> dict[str, Any]:
    path = reverse("pledges:detail", kwargs={"public_id": pledge.public_id})
    return {
        "public_id": pledge.public_id,
        "text": pledge.text,
        "display_name": pledge.public_name,
        "role": pledge.role,
        # wall_pledges reads the directory entry with each pledge (one join, no query each).
        "organisation": pledge.org.name if pledge.org is not None else pledge.organisation,
        "organisation_slug": pledge.org.slug if pledge.org is not None else None,
        "verified": _verified_out(pledge),
        "region": pledge.region,
        "kind": pledge.kind,
        "sectors": pledge.sector_slugs,
        "published_at": pledge.published_at,
        "url": f"{settings.SITE_URL}{path}",
        "outcome": pledge.outcome or None,
        # The wall's own selector: the published story only, else None.
        "story": pledge.story_text,
    }


def _documented(description: str, **schema: Any) -> Any:
    # Described for the OpenAPI document only: WallFilters checks the values
    # itself, with the wall's messages, so the API and the wall accept the same.
    # (Ninja's Query has no way in for a bare enum, hence the update.)
    param = Query("", description=description)
    param.json_schema_extra.update(schema)
    return param


@router.get(
    "/campaigns/{slug}/pledges",
    response={200: PledgePageOut, 400: ErrorOut, 404: ErrorOut},
    summary="Published pledges, newest first, one keyset page at a time",
)
def campaign_pledges(
    request: HttpRequest,
    slug: str,
    sector: str = _documented("Only pledges touching this sector.", enum=["", *SECTOR_BITS]),
    integration: str = _documented(
        "1, on, true or yes: only pledges touching two or more sectors.",
        enum=[*INTEGRATION_OFF, *INTEGRATION_ON],
    ),
    region: str = _documented("Only pledges from this region.", enum=["", *Region.values]),
    kind: str = _documented("Personal or organisational pledges only.", enum=["", *Kind.values]),
    organisation: str = _documented(
        "Only pledges from this organisation: its slug in the directory (organisation_slug), "
        "or its name in the directory (any case or spacing, with or without a trailing Ltd), "
        "which gives what the slug gives; any other name matches pledges as typed (any case).",
        maxLength=MAX_SEARCH,
        pattern=NO_NULLS,
    ),
    q: str = _documented("Words to search for in the pledges.", maxLength=MAX_SEARCH, pattern=NO_NULLS),
    outcome: str = _documented(
        "Only pledges whose pledger gave this answer; changes: done or started.", enum=["", *OUTCOME_FILTERS]
    ),
    order: str = _documented(
        "changes: the pledges that became changes (done or started) first, each part newest first.",
        enum=list(WALL_ORDERS),
    ),
    cursor: str = _documented(
        "next_cursor of the page before, as given; absent for the first page.", pattern=r"^[A-Za-z0-9_-]*$"
    ),
    limit: int = Query(WALL_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE),  # noqa: B008 - ninja's parameter marker
) -> dict[str, Any]:
    campaign = _campaign_or_404(slug)
    try:
        filters = WallFilters.from_query(request.GET)
        page = wall_pledges(campaign=campaign, filters=filters, cursor=cursor, limit=limit)
    except BadWallQuery as exc:
        raise HttpError(400, str(exc)) from exc
    return {"results": [_pledge_out(pledge) for pledge in page.pledges], "next_cursor": page.next_cursor}
