"""The league tables and the index of organisations taking part, as pages and the API read
them: organisations.selectors' answers kept in the shared cache under the wall's generation.

Everyone reloading a league table at once costs one GROUP BY over the organisations'
counters; a pledge joining or leaving the wall (or a pledger's answer moving a published
pledge's outcome) bumps the generation, so the next read counts it at once."""

from __future__ import annotations

from collections.abc import Callable

from campaigns.models import Campaign
from changeday.lib.pagecache import current_get, current_set, generation_read
from organisations.selectors import (
    LEAGUE_PAGE_SIZE,
    LeagueFilters,
    LeaguePage,
    league_table,
    organisations_taking_part,
)
from pledges.selectors import wall_generation_key

# An upper bound for quiet times: a change makes a kept copy stale before that anyway.
LEAGUE_CACHE_SECONDS = 10

Read = Callable[..., LeaguePage]


def _cached(
    what: str, read: Read, *, campaign: Campaign, filters: LeagueFilters, offset: int, limit: int
) -> LeaguePage:
    # created_at in the key, as for the campaign's totals: a test database may reuse an id.
    # Only checked filter values and bounded numbers reach it, so keys stay few and short.
    key = (
        f"{what}:v1:{campaign.pk}:{campaign.created_at.timestamp()}:"
        f"{filters.kind}:{filters.region}:{filters.per}:{offset}:{limit}"
    )
    generation_key = wall_generation_key(campaign.pk)
    found = current_get(key, generation_key)
    if isinstance(found, LeaguePage):
        return found
    generation = generation_read(generation_key)
    page = read(campaign=campaign, filters=filters, offset=offset, limit=limit)
    current_set(key, generation, page, LEAGUE_CACHE_SECONDS)
    return page


def league_cached(
    *, campaign: Campaign, filters: LeagueFilters, offset: int = 0, limit: int = LEAGUE_PAGE_SIZE
) -> LeaguePage:
    return _cached("league", league_table, campaign=campaign, filters=filters, offset=offset, limit=limit)


def taking_part_cached(
    *, campaign: Campaign, filters: LeagueFilters, offset: int = 0, limit: int = LEAGUE_PAGE_SIZE
) -> LeaguePage:
    return _cached(
        "taking-part",
        organisations_taking_part,
        campaign=campaign,
        filters=filters,
        offset=offset,
        limit=limit,
    )
