"""The public statistics page's numbers: one selector, cached as a whole."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.dbrouter import replica_or_primary
from organisations.selectors import LeagueFilters, LeagueRow
from pages.organisations import league_cached
from pledges.models import (
    CHANGE_OUTCOMES,
    PUBLIC_STATES,
    Outcome,
    Pledge,
    Region,
    SectorSlug,
    sector_slugs_for,
)
from pledges.selectors import INTEGRATION_MASKS, campaign_totals
from pledges.sources import source_labels

# A pledge belongs to the day it was published on in the UK, whatever the server's clock.
LOCAL_ZONE = ZoneInfo("Europe/London")
# At a million pledges a GROUP BY per request is too dear; five minutes is
# fresh enough for a stats page, and the live counters elsewhere stay live.
STATS_CACHE_SECONDS = 5 * 60
# The top of the league is read apart from the rest (stats_league), as fresh as the league page.
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


def _share(part: int, whole: int) -> int:
    """A whole percentage, for reading beside the exact count (never instead of it)."""
    return round(100 * part / whole) if whole else 0


@dataclass(frozen=True)
class FunnelRow:
    """How far a group's published promises got: each stage is within the one before."""

    key: str
    label: str
    published: int
    answered: int  # said how it went, whatever the answer
    changed: int  # started or done: a change made
    done: int

    @property
    def answered_share(self) -> int:
        return _share(self.answered, self.published)

    @property
    def changed_share(self) -> int:
        return _share(self.changed, self.published)

    @property
    def done_share(self) -> int:
        return _share(self.done, self.published)


@dataclass(frozen=True)
class WeekAnswers:
    """Answers whose latest word fell in one week counted from Change Day (week 1 starts
    on the day itself; week 0 holds anything said before it)."""

    week: int
    starts: date
    done: int
    started: int
    not_yet: int
    didnt_work: int

    @property
    def answered(self) -> int:
        return self.done + self.started + self.not_yet + self.didnt_work


@dataclass(frozen=True)
class GroupWeeks:
    """One sector's or region's answers week by week, over the same weeks as the whole."""

    key: str
    label: str
    weeks: list[WeekAnswers]


@dataclass(frozen=True)
class FollowThrough:
    overall: FunnelRow
    sectors: list[FunnelRow]
    regions: list[FunnelRow]
    weeks: list[WeekAnswers]
    # Only the sectors and regions someone has answered in, in the funnel tables' order.
    weeks_by_sector: list[GroupWeeks] = field(default_factory=list)
    weeks_by_region: list[GroupWeeks] = field(default_factory=list)


@dataclass(frozen=True)
class CampaignStats:
    total: int
    integration: int
    days: list[DayCount]
    sectors: list[LabelledCount]
    regions: list[LabelledCount]
    computed_at: datetime
    follow_through: FollowThrough | None = None
    # Where published pledges came from: each poster's or card's source tag, then the rest.
    sources: list[LabelledCount] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.total == 0 and not self.days


def stats_cache_key(campaign_id: int) -> str:
    # The version lets a change to CampaignStats's shape skip old pickles.
    return f"campaign-stats:v5:{campaign_id}"


def campaign_stats(*, campaign: Campaign) -> CampaignStats:
    """Everything the stats page shows, from the cache when it is there."""
    key = stats_cache_key(campaign.pk)
    stats = cache.get(key)
    if stats is None:
        stats = _compute_stats(campaign=campaign)
        cache.set(key, stats, STATS_CACHE_SECONDS)
    return stats


def stats_league(*, campaign: Campaign) -> list[LeagueRow]:
    """The league table's top ten, read as the league page reads it (its shared copy, kept
    until a pledge joins or leaves the wall), not with the five-minute figures: the two pages
    must never disagree. One GROUP BY over the organisations' counters, none when kept."""
    return league_cached(campaign=campaign, filters=LeagueFilters(), limit=TOP_ORGANISATIONS).rows


def _compute_stats(*, campaign: Campaign) -> CampaignStats:
    # Sectors and regions come from the sharded counters (no scan); only
    # the per-day figures and the follow-through need the pledges themselves.
    totals = campaign_totals(campaign=campaign)
    # The per-day scans are the dearest reads of the page:
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
        computed_at=timezone.now(),
        follow_through=_follow_through(published, change_day=campaign.change_day),
        sources=_sources(published, total=totals.total),
    )


DIRECT = "direct"


def _sources(published: QuerySet[Pledge], *, total: int) -> list[LabelledCount]:
    """Published pledges by the source tag their QR code carried, most first, then the rest
    ("Direct or other", from the live total). The GROUP BY reads pledge_source_idx, whose
    rows are only the pledges that came with a tag; one more query names the organisations
    of their posters, however many."""
    rows = published.exclude(source="").values("source").annotate(count=Count("id")).order_by()
    counts = {row["source"]: row["count"] for row in rows}
    labels = source_labels(counts)
    found = [LabelledCount(key=tag, label=labels[tag], count=counts[tag]) for tag in labels]
    found.sort(key=lambda row: (-row.count, row.label))
    # Tags the site never made (none can come through the form) count with the rest.
    tagged = sum(row.count for row in found)
    return [*found, LabelledCount(key=DIRECT, label="Direct or other", count=max(total - tagged, 0))]


def _follow_through(published: QuerySet[Pledge], *, change_day: date) -> FollowThrough:
    """The follow-through funnel of published pledges, whole and by sector and region,
    and the answers week by week, whole and by sector and region: three GROUP BYs whose
    rows are bounded by the sector masks, the regions and the days answered, never by
    the pledges."""
    rows = (
        published.values("sector_mask", "region")
        .annotate(
            published=Count("id"),
            answered=Count("id", filter=~Q(outcome="")),
            changed=Count("id", filter=Q(outcome__in=sorted(CHANGE_OUTCOMES))),
            done=Count("id", filter=Q(outcome=Outcome.DONE)),
        )
        .order_by()
    )
    stages = ("published", "answered", "changed", "done")
    overall = dict.fromkeys(stages, 0)
    by_sector = {slug: dict.fromkeys(stages, 0) for slug in SectorSlug.values}
    by_region = {region: dict.fromkeys(stages, 0) for region in Region.values}
    for row in rows:
        # A pledge touching several sectors counts in each, as the sector totals do.
        groups = [
            overall,
            by_region[row["region"]],
            *(by_sector[s] for s in sector_slugs_for(row["sector_mask"])),
        ]
        for group in groups:
            for stage in stages:
                group[stage] += row[stage]
    regions = [FunnelRow(key=r, label=Region(r).label, **counts) for r, counts in by_region.items()]
    regions.sort(key=lambda row: (-row.published, row.label))
    sectors = [FunnelRow(key=s, label=SectorSlug(s).label, **counts) for s, counts in by_sector.items()]
    weeks = _answers_per_week(published, change_day=change_day)
    return FollowThrough(
        overall=FunnelRow(key="all", label="All published pledges", **overall),
        sectors=sectors,
        regions=regions,
        weeks=weeks.get(_WHOLE, []),
        weeks_by_sector=_group_weeks(sectors, weeks),
        weeks_by_region=_group_weeks(regions, weeks),
    )


def _group_weeks(groups: list[FunnelRow], weeks: dict[str, list[WeekAnswers]]) -> list[GroupWeeks]:
    return [
        GroupWeeks(key=group.key, label=group.label, weeks=weeks[group.key])
        for group in groups
        if group.key in weeks
    ]


_WEEK_FIELDS = {
    Outcome.DONE: "done",
    Outcome.STARTED: "started",
    Outcome.NOT_YET: "not_yet",
    Outcome.DID_NOT_WORK: "didnt_work",
}
# The whole campaign's weeks, beside each sector's and region's (their slugs never clash).
_WHOLE = ""


def _answers_per_week(published: QuerySet[Pledge], *, change_day: date) -> dict[str, list[WeekAnswers]]:
    """Each pledge's latest answer in the week it was given, for the whole campaign (_WHOLE)
    and for each sector and region answered in, each over every week from the first answered
    to the last, quiet ones as zero, so the tables line up."""
    answered = (
        published.exclude(outcome="")
        .filter(outcome_at__isnull=False)
        .annotate(day=TruncDate("outcome_at", tzinfo=LOCAL_ZONE))
    )
    # Two GROUP BYs, not one by both: a row per day, answer, sector mask and region would
    # be the product of the two. Every pledge has one region, so the whole is their sum.
    by_region = answered.values("day", "outcome", "region").annotate(count=Count("id")).order_by()
    by_mask = answered.values("day", "outcome", "sector_mask").annotate(count=Count("id")).order_by()
    tallies: dict[str, dict[int, dict[str, int]]] = {}

    def tally(keys: Iterable[str], *, day: date, outcome: str, count: int) -> None:
        # Week 1 is Change Day and the six days after; an early answer goes in week 0.
        week = max((day - change_day).days // 7 + 1, 0)
        for key in keys:
            counts = tallies.setdefault(key, {}).setdefault(week, dict.fromkeys(_WEEK_FIELDS.values(), 0))
            counts[_WEEK_FIELDS[outcome]] += count

    for row in by_region:
        tally((_WHOLE, row["region"]), day=row["day"], outcome=row["outcome"], count=row["count"])
    for row in by_mask:
        slugs = sector_slugs_for(row["sector_mask"])
        tally(slugs, day=row["day"], outcome=row["outcome"], count=row["count"])
    if not tallies:
        return {}
    first, last = min(min(tallies[_WHOLE]), 1), max(tallies[_WHOLE])
    return {
        key: [
            WeekAnswers(
                week=week,
                starts=change_day + timedelta(days=7 * (week - 1)),
                **weeks.get(week, dict.fromkeys(_WEEK_FIELDS.values(), 0)),
            )
            for week in range(first, last + 1)
        ]
        for key, weeks in tallies.items()
    }


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
