"""The organisers' CSV export of a campaign's pledges, emails included, with each one's
directory organisation (code and slug, beside the name as typed) and verified badge, its
outcome and its story's status (the story's words only once published), and how it came
(online, or on paper with its card's reference)."""

from __future__ import annotations

import csv
from collections.abc import Iterator

from campaigns.models import Campaign
from changeday.lib.csvcells import spreadsheet_safe
from moderation.selectors import EXPORT_COLUMNS, pledges_for_export
from pledges.models import sector_slugs_for
from pledges.selectors import WallFilters


class _Echo:
    def write(self, value: str) -> str:
        return value


def export_csv_lines(*, campaign: Campaign, filters: WallFilters, status: str) -> Iterator[str]:
    """The CSV a line at a time, rows read from a server-side cursor as they go: a
    million rows never sit in memory at once. Sectors as slugs, not the mask."""
    rows = pledges_for_export(campaign=campaign, filters=filters, status=status)
    writer = csv.writer(_Echo())
    columns = [c for c in EXPORT_COLUMNS if c != "sector_mask"]
    mask_at = EXPORT_COLUMNS.index("sector_mask")
    yield writer.writerow([*columns, "sectors"])
    for row in rows:
        sectors = " ".join(sector_slugs_for(row[mask_at]))
        # A pledge text must never become a formula in a spreadsheet (CSV injection).
        cells = [spreadsheet_safe(value) for i, value in enumerate(row) if i != mask_at]
        yield writer.writerow([*cells, sectors])
