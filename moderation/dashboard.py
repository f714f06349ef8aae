"""The organisers' view of the day: pledges confirmed each hour over the last 48 hours,
in all, by sector and by region, counted from the pledges themselves.

Not from the live counters: those say how many pledges are published now, not when
people came. One GROUP BY over the campaign's last 48 hours of the confirmation index
(pledge_confirmed_idx), whose rows are bounded by hours x sector masks x regions and
never by the pledges; cached for the current minute only, so it is never more than a
minute old.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db.models import Count
from django.db.models.functions import TruncHour
from django.utils import timezone

from campaigns.models import Campaign, Region
from pledges.models import Pledge, SectorSlug, sector_slugs_for

HOURS = 48
# Keyed by the minute as well: a figure computed at 10:00:59 is not served at 10:01.
CACHE_SECONDS = 60
SECTORS: tuple[str, ...] = tuple(SectorSlug.values)
REGIONS: tuple[str, ...] = tuple(Region.values)


@dataclass(frozen=True)
class Hour:
    # On the hour, in UTC: the UK's offsets are whole hours, so a UTC hour is a UK hour,
    # and the autumn's repeated 01:00 stays two hours (01:00 BST, then 01:00 GMT).
    start: datetime
    total: int
    by_sector: tuple[int, ...]  # in SECTORS' order
    by_region: tuple[int, ...]  # in REGIONS' order
    current: bool = False  # the hour under way: counted so far


@dataclass(frozen=True)
class Group:
    key: str
    label: str
    total: int


@dataclass(frozen=True)
class PledgesPerHour:
    hours: list[Hour]  # oldest first, every hour present (zero when nobody pledged)
    total: int
    sectors: list[Group]
    regions: list[Group]
    start: datetime
    computed_at: datetime

    @property
    def busiest(self) -> Hour:
        return max(reversed(self.hours), key=lambda hour: hour.total)


def cache_key(*, campaign_id: int, now: datetime) -> str:
    # The version lets a change to PledgesPerHour's shape skip old pickles.
    return f"moderation:per-hour:v1:{campaign_id}:{now.astimezone(UTC):%Y%m%d%H%M}"


def pledges_per_hour(*, campaign: Campaign, now: datetime | None = None) -> PledgesPerHour:
    """The last HOURS hours of confirmations (the hour under way and the ones before),
    from the cache when it was worked out this same minute."""
    now = now or timezone.now()
    key = cache_key(campaign_id=campaign.pk, now=now)
    found = cache.get(key)
    if found is None:
        found = _count(campaign=campaign, now=now)
        cache.set(key, found, CACHE_SECONDS)
    return found


def _count(*, campaign: Campaign, now: datetime) -> PledgesPerHour:
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=HOURS - 1)
    # Every confirmed pledge, whatever became of it since (published, waiting, rejected,
    # withdrawn): this is when people came. Read from the primary, never a replica that
    # may lag by more than the minute promised.
    rows = (
        Pledge.objects.filter(
            campaign=campaign, confirmed_at__isnull=False, confirmed_at__gte=start, confirmed_at__lte=now
        )
        # Truncated in UTC and labelled in UK time by the page (see Hour.start); TruncHour
        # is date_trunc on PostgreSQL and Django's own function on SQLite.
        .annotate(hour=TruncHour("confirmed_at", tzinfo=UTC))
        .values_list("hour", "sector_mask", "region")
        .annotate(n=Count("id"))
        .order_by()
    )
    totals: dict[datetime, int] = {}
    sectors: dict[tuple[datetime, str], int] = {}
    regions: dict[tuple[datetime, str], int] = {}
    for hour, mask, region, n in rows:
        hour = hour.astimezone(UTC)
        totals[hour] = totals.get(hour, 0) + n
        regions[hour, region] = regions.get((hour, region), 0) + n
        # A pledge in several sectors counts in each, as the sector counters do.
        for slug in sector_slugs_for(mask):
            sectors[hour, slug] = sectors.get((hour, slug), 0) + n
    hours = [
        Hour(
            start=hour,
            total=totals.get(hour, 0),
            by_sector=tuple(sectors.get((hour, slug), 0) for slug in SECTORS),
            by_region=tuple(regions.get((hour, region), 0) for region in REGIONS),
            current=hour == current,
        )
        for hour in (start + timedelta(hours=n) for n in range(HOURS))
    ]
    return PledgesPerHour(
        hours=hours,
        total=sum(totals.values()),
        sectors=[
            Group(key=slug, label=str(SectorSlug(slug).label), total=sum(h.by_sector[i] for h in hours))
            for i, slug in enumerate(SECTORS)
        ],
        regions=[
            Group(key=region, label=str(Region(region).label), total=sum(h.by_region[i] for h in hours))
            for i, region in enumerate(REGIONS)
        ],
        start=start,
        computed_at=now,
    )
