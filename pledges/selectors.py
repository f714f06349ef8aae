"""Reads that span relations: live totals (later the wall and feeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.db.models import Case, Count, Max, Prefetch, Q, QuerySet, Sum, Value, When

from campaigns.models import Campaign
from pledges.models import SECTOR_BITS, Kind, ModerationEvent, Pledge, Region, Report, Status, TotalShard


@dataclass(frozen=True)
class Totals:
    total: int
    integration: int
    by_sector: dict[str, int]
    by_region: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None


def campaign_totals(*, campaign: Campaign) -> Totals:
    """Live totals of published pledges: one small aggregate over the shards."""
    rows = (
        TotalShard.objects.filter(campaign=campaign)
        .values("key")
        .annotate(value=Sum("value"), updated_at=Max("updated_at"))
        .order_by()
    )
    values: dict[str, int] = {}
    updated_at: datetime | None = None
    for row in rows:
        values[row["key"]] = row["value"]
        if row["updated_at"] and (updated_at is None or row["updated_at"] > updated_at):
            updated_at = row["updated_at"]
    return Totals(
        total=values.get("total", 0),
        integration=values.get("integration", 0),
        by_sector={slug: values.get(f"sector:{slug}", 0) for slug in SECTOR_BITS},
        by_region={region: values.get(f"region:{region}", 0) for region in Region.values},
        by_kind={kind: values.get(f"kind:{kind}", 0) for kind in Kind.values},
        updated_at=updated_at,
    )


# --- Moderation queue -------------------------------------------------------

# The queue is worked from the top, so a page is the first QUEUE_PAGE of the
# ordered queue plus the counts: no OFFSET walking over a large table.
QUEUE_PAGE = 50
QUEUE_STATES: tuple[str, ...] = (Status.HIDDEN, Status.PENDING)
# Decided pledges an organiser may review (and reverse) through the same page.
REVIEW_STATES: tuple[str, ...] = (Status.PENDING, Status.HIDDEN, Status.PUBLISHED, Status.REJECTED)


@dataclass(frozen=True)
class ModerationCounts:
    hidden: int
    flagged: int
    waiting: int

    @property
    def total(self) -> int:
        return self.hidden + self.flagged + self.waiting


def _masks_with(bit: int) -> list[int]:
    # sector_mask is 1..15 (a check constraint), so the masks holding one bit
    # are few enough to list: an IN over an integer column, no bitwise SQL.
    return [mask for mask in range(1, 16) if mask & bit]


def _moderation_filter(queryset: QuerySet[Pledge], *, sector: str, flag: str) -> QuerySet[Pledge]:
    if sector:
        queryset = queryset.filter(sector_mask__in=_masks_with(SECTOR_BITS[sector]))
    if flag:
        if connection.vendor == "postgresql":
            # jsonb containment: ["reason"] is inside flags.
            queryset = queryset.filter(flags__contains=[flag])
        else:
            # SQLite's JSONField has no contains lookup; match the quoted reason
            # in the JSON text instead (reasons are slugs, so no escaping issue).
            queryset = queryset.filter(flags__icontains=f'"{flag}"')
    return queryset


def _with_moderation_details(queryset: QuerySet[Pledge]) -> QuerySet[Pledge]:
    """Everything a moderation card shows, in a fixed number of queries."""
    return queryset.prefetch_related(
        Prefetch("reports", queryset=Report.objects.only("id", "pledge_id", "reason").order_by("reason")),
        Prefetch(
            "moderation_events",
            queryset=ModerationEvent.objects.select_related("actor").order_by("created_at", "id"),
        ),
    )


def moderation_queue(
    *, campaign: Campaign, status: str = "", sector: str = "", flag: str = "", limit: int = QUEUE_PAGE
) -> list[Pledge]:
    """The pledges an organiser should look at, most urgent first.

    With no status: hidden after reports first (the public already objected),
    then pledges the screening flagged, then the rest oldest first (the pledger
    has waited longest). With a status: that status only, for review.
    """
    queryset = _moderation_filter(Pledge.objects.filter(campaign=campaign), sector=sector, flag=flag)
    if status in (Status.PUBLISHED, Status.REJECTED):
        ordered = queryset.filter(status=status).order_by("-status_changed_at", "-id")
    else:
        states = [status] if status else list(QUEUE_STATES)
        ordered = (
            queryset.filter(status__in=states)
            .annotate(
                need=Case(
                    When(status=Status.HIDDEN, then=Value(0)),
                    When(flags=[], then=Value(2)),
                    default=Value(1),
                )
            )
            .order_by("need", "created_at", "id")
        )
    return list(_with_moderation_details(ordered)[:limit])


def moderation_counts(*, campaign: Campaign, sector: str = "", flag: str = "") -> ModerationCounts:
    """How many pledges wait in each group of the queue: one aggregate over the
    queue's partial index (pending and hidden only), never over every pledge."""
    queryset = _moderation_filter(
        Pledge.objects.filter(campaign=campaign, status__in=QUEUE_STATES), sector=sector, flag=flag
    )
    pending = Q(status=Status.PENDING)
    row = queryset.aggregate(
        hidden=Count("id", filter=Q(status=Status.HIDDEN)),
        flagged=Count("id", filter=pending & ~Q(flags=[])),
        waiting=Count("id", filter=pending & Q(flags=[])),
    )
    return ModerationCounts(hidden=row["hidden"], flagged=row["flagged"], waiting=row["waiting"])


def moderation_pledges(*, public_ids: list[str]) -> list[Pledge]:
    """Pledges by public id with their moderation details, to redraw their cards."""
    return list(_with_moderation_details(Pledge.objects.filter(public_id__in=public_ids)).order_by("id"))
