"""The public statistics page's numbers: one selector, cached as a whole."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.dbrouter import replica_or_primary
from pledges.models import PUBLIC_STATES, Pledge, Region, SectorSlug
from pledges.selectors import INTEGRATION_MASKS, campaign_totals

# A pledge belongs to the day it was published on in the UK, whatever the server's clock.
LOCAL_ZONE = ZoneInfo("Europe/London")
# At a million pledges a GROUP BY per request is too dear; five minutes is
# fresh enough for a stats page, and the live counters elsewhere stay live.
STATS_CACHE_SECONDS = 5 * 60
TOP_ORGANISATIONS = 10


@dataclass(frozen=True)
class DayCount:
    day: date
    published: int
    integration: int


@dataclass(frozen=True)
class LabelledCount:
    key: str
    label: str
    count: int


@dataclass(frozen=True)
class CampaignStats:
    total: int
    integration: int
    days: list[DayCount]
    sectors: list[LabelledCount]
    regions: list[LabelledCount]
    organisations: list[LabelledCount]
    computed_at: datetime

    @property
    def is_empty(self) -> bool:
        return self.total == 0 and not self.days


def stats_cache_key(campaign_id: int) -> str:
    # The version lets a change to CampaignStats's shape skip old pickles.
    return f"campaign-stats:v1:{campaign_id}"


def campaign_stats(*, campaign: Campaign) -> CampaignStats:
    """Everything the stats page shows, from the cache when it is there."""
    key = stats_cache_key(campaign.pk)
    stats = cache.get(key)
    if stats is None:
        stats = _compute_stats(campaign=campaign)
        cache.set(key, stats, STATS_CACHE_SECONDS)
    return stats


def _compute_stats(*, campaign: Campaign) -> CampaignStats:
    # Sectors and regions come from the sharded counters (no scan); only the
    # per-day and per-organisation figures need the pledges themselves.
    totals = campaign_totals(campaign=campaign)
    # The per-day and per-organisation scans are the dearest reads of the page:
    # the replica takes them when there is one (the totals above stay on the primary).
    published = Pledge.objects.using(replica_or_primary()).filter(campaign=campaign, status__in=PUBLIC_STATES)
    regions = [LabelledCount(key=r, label=Region(r).label, count=n) for r, n in totals.by_region.items()]
    return CampaignStats(
        total=totals.total,
        integration=totals.integration,
        days=_per_day(published),
        sectors=[
            LabelledCount(key=slug, label=SectorSlug(slug).label, count=count)
            for slug, count in totals.by_sector.items()
        ],
        regions=sorted(regions, key=lambda row: (-row.count, row.label)),
        organisations=[
            LabelledCount(key=row["organisation"], label=row["organisation"], count=row["count"])
            for row in published.exclude(organisation="")
            .values("organisation")
            .annotate(count=Count("id"))
            .order_by("-count", "organisation")[:TOP_ORGANISATIONS]
        ],
        computed_at=timezone.now(),
    )


def _per_day(published: QuerySet[Pledge]) -> list[DayCount]:
    rows = (
        published.filter(published_at__isnull=False)
        .annotate(day=TruncDate("published_at", tzinfo=LOCAL_ZONE))
        .values("day")
        .annotate(
            published=Count("id"),
            integration=Count("id", filter=Q(sector_mask__in=INTEGRATION_MASKS)),
        )
        .order_by("day")
    )
    found = {row["day"]: row for row in rows}
    if not found:
        return []
    # Every day from the first to the last, quiet days as zero, so the chart's
    # bars sit on an even time axis.
    first, last = min(found), max(found)
    days: list[DayCount] = []
    for offset in range((last - first).days + 1):
        day = first + timedelta(days=offset)
        row = found.get(day)
        days.append(
            DayCount(
                day=day,
                published=row["published"] if row else 0,
                integration=row["integration"] if row else 0,
            )
        )
    return days
