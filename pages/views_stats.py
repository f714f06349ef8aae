"""The public statistics page: charts drawn on the server as SVG, with the same
numbers in tables, so it reads without JavaScript and with a screen reader."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from campaigns.models import Campaign
from pages import stats as stats_selectors
from pages.stats import DayCount, FollowThrough, FunnelRow, GroupWeeks, LabelledCount

# Chart geometry in SVG user units. The viewBox is about a phone's width, so
# text drawn at 14 units stays legible when the chart scales to the screen.
CHART_WIDTH = 400
DAY_CHART_HEIGHT = 200
DAY_PLOT_TOP = 24
DAY_PLOT_BOTTOM = 170
BAR_ROW = 40
BAR_LABEL_ROOM = 48  # space right of the longest bar for its number


@dataclass(frozen=True)
class DayBar:
    day_count: DayCount
    x: float
    width: float
    y: float
    height: float
    inner_x: float
    inner_width: float
    inner_y: float
    inner_height: float


@dataclass(frozen=True)
class HorizontalBar:
    row: LabelledCount
    label_y: int
    bar_y: int
    width: float
    value_x: float
    value_y: int


def _day_bars(days: list[DayCount]) -> list[DayBar]:
    peak = max((d.published for d in days), default=0) or 1
    slot = CHART_WIDTH / len(days) if days else CHART_WIDTH
    plot_height = DAY_PLOT_BOTTOM - DAY_PLOT_TOP
    bars = []
    for index, day in enumerate(days):
        height = plot_height * day.published / peak
        inner_height = plot_height * day.integration / peak
        width = max(slot * 0.8, 1.0)
        inner_width = max(slot * 0.4, 1.0)
        bars.append(
            DayBar(
                day_count=day,
                x=round(index * slot + (slot - width) / 2, 2),
                width=round(width, 2),
                y=round(DAY_PLOT_BOTTOM - height, 2),
                height=round(height, 2),
                inner_x=round(index * slot + (slot - inner_width) / 2, 2),
                inner_width=round(inner_width, 2),
                inner_y=round(DAY_PLOT_BOTTOM - inner_height, 2),
                inner_height=round(inner_height, 2),
            )
        )
    return bars


def _horizontal_bars(rows: list[LabelledCount]) -> list[HorizontalBar]:
    peak = max((r.count for r in rows), default=0) or 1
    room = CHART_WIDTH - BAR_LABEL_ROOM
    bars = []
    for index, row in enumerate(rows):
        top = index * BAR_ROW
        width = round(room * row.count / peak, 2)
        bars.append(
            HorizontalBar(
                row=row,
                label_y=top + 14,
                bar_y=top + 20,
                width=width,
                value_x=width + 6,
                value_y=top + 32,
            )
        )
    return bars


def _bar_chart(
    chart_id: str, *, heading: str, title: str, column: str, note: str, rows: list[LabelledCount]
) -> dict[str, object]:
    return {
        "id": chart_id,
        "heading": heading,
        "title": title,
        "column": column,
        "note": note,
        "bars": _horizontal_bars(rows),
        "height": BAR_ROW * len(rows),
    }


FUNNEL_STAGES = (
    ("published", "Published"),
    ("answered", "Said how it went"),
    ("changed", "Started or done"),
    ("done", "Done"),
)


def _funnel_chart(overall: FunnelRow) -> dict[str, object]:
    rows = [LabelledCount(key=key, label=label, count=getattr(overall, key)) for key, label in FUNNEL_STAGES]
    return _bar_chart(
        "funnel",
        heading="From promise to change",
        title="Published pledges, and how many of their makers said it started or was done",
        column="Stage",
        note="",
        rows=rows,
    )


def _week_tables(follow: FollowThrough | None) -> list[tuple[str, str, str, list[GroupWeeks]]]:
    if follow is None:
        return []
    caption = "Answers each week since Change Day, by"
    return [
        ("sectors", "Sector", f"{caption} sector", follow.weeks_by_sector),
        ("regions", "Region", f"{caption} region, most pledges first", follow.weeks_by_region),
    ]


def campaign_stats(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    stats = stats_selectors.campaign_stats(campaign=campaign)
    # Integration is shown beside the sectors: it is the campaign's point.
    sector_rows = [
        *stats.sectors,
        LabelledCount(key="integration", label="Two or more sectors", count=stats.integration),
    ]
    peak_day = max(stats.days, key=lambda d: d.published, default=None)
    context = {
        "campaign": campaign,
        "stats": stats,
        "league": stats_selectors.stats_league(campaign=campaign),
        "chart_width": CHART_WIDTH,
        "day_chart_height": DAY_CHART_HEIGHT,
        "day_plot_top": DAY_PLOT_TOP,
        "day_plot_bottom": DAY_PLOT_BOTTOM,
        "day_bars": _day_bars(stats.days),
        "peak_day": peak_day,
        "follow": stats.follow_through,
        "funnel_chart": _funnel_chart(stats.follow_through.overall) if stats.follow_through else None,
        "funnel_tables": (
            [
                ("sectors", "Sector", "Follow-through by sector", stats.follow_through.sectors),
                (
                    "regions",
                    "Region",
                    "Follow-through by region, most pledges first",
                    stats.follow_through.regions,
                ),
            ]
            if stats.follow_through
            else []
        ),
        "week_tables": _week_tables(stats.follow_through),
        "bar_charts": [
            _bar_chart(
                "sectors",
                heading="By sector",
                title="Published pledges by sector",
                column="Sector",
                note="A pledge can touch several sectors, so these add up to more than the total.",
                rows=sector_rows,
            ),
            _bar_chart(
                "regions",
                heading="By region",
                title="Published pledges by region, most first",
                column="Region",
                note="",
                rows=stats.regions,
            ),
            _bar_chart(
                "sources",
                heading="Where pledges came from",
                title="Published pledges by the poster or card whose QR code brought them",
                column="Came from",
                note=(
                    "Counted from the QR codes on printed posters and pledge cards; links, sharing "
                    "and typing the address are all under Direct or other."
                ),
                rows=stats.sources,
            ),
        ],
    }
    return render(request, "pages/stats.html", context)
