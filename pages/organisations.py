"""The league tables and the index of organisations taking part, as pages and the API read
them: organisations.selectors' answers kept in the shared cache under the wall's generation.

Everyone reloading a league table at once costs one GROUP BY over the organisations'
counters; a pledge joining or leaving the wall (or a pledger's answer moving a published
pledge's outcome) bumps the generation, so the next read counts it at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

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
T = TypeVar("T")


def cached_for_campaign(what: str, *, campaign: Campaign, compute: Callable[[], T]) -> T:
    """compute()'s answer, kept in the shared cache under the campaign's wall generation for at
    most LEAGUE_CACHE_SECONDS: served until a pledge joins or leaves the wall (or an answer
    moves an outcome), then worked out again. `what` names the answer among the campaign's:
    only checked values and bounded numbers, so keys stay few and short."""
    # created_at in the key, as for the campaign's totals: a test database may reuse an id.
    key = f"organisations:v1:{campaign.pk}:{campaign.created_at.timestamp()}:{what}"
    generation_key = wall_generation_key(campaign.pk)
    found = current_get(key, generation_key)
    if found is not None:
        return found  # type: ignore[return-value]
    generation = generation_read(generation_key)
    answer = compute()
    current_set(key, generation, answer, LEAGUE_CACHE_SECONDS)
    return answer


def _cached(
    what: str, read: Read, *, campaign: Campaign, filters: LeagueFilters, offset: int, limit: int
) -> LeaguePage:
    return cached_for_campaign(
        f"{what}:{filters.kind}:{filters.region}:{filters.per}:{offset}:{limit}",
        campaign=campaign,
        compute=lambda: read(campaign=campaign, filters=filters, offset=offset, limit=limit),
    )


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
