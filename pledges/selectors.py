"""Reads that span relations: live totals (later the wall and feeds)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Max, Sum

from campaigns.models import Campaign
from pledges.models import SECTOR_BITS, Kind, Region, TotalShard


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
