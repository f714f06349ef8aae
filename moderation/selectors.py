"""Reads of moderation: the queue, its counts, the cards' details, the organisers'
CSV export and a pledger's decisions for their download."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection
from django.db.models import Case, CharField, Count, Exists, F, OuterRef, Prefetch, Q, QuerySet, Value, When
from django.db.models.functions import Concat

from campaigns.models import Campaign
from moderation.models import ModerationEvent, Report, Subject
from pledges.models import SECTOR_BITS, Pledge, Status, Story, StoryStatus, Verified
from pledges.outcomes import ANSWERABLE_STATES
from pledges.selectors import WallFilters, masks_with, pledges_filtered

# The queue is worked from the top, so a page is the first QUEUE_PAGE of the
# ordered queue plus the counts: no OFFSET walking over a large table.
QUEUE_PAGE = 50
QUEUE_STATES: tuple[str, ...] = (Status.HIDDEN, Status.PENDING)
# Decided pledges an organiser may review (and reverse) through the same page.
REVIEW_STATES: tuple[str, ...] = (Status.PENDING, Status.HIDDEN, Status.PUBLISHED, Status.REJECTED)
# Stories wait in the same two states (the names are shared with pledges' statuses).
STORY_QUEUE_STATES: tuple[str, ...] = (StoryStatus.HIDDEN, StoryStatus.PENDING)


def _stories_waiting(queryset: QuerySet[Story], states: list[str]) -> QuerySet[Story]:
    """Stories in these states that still need a decision: not those of a pledge its
    pledger withdrew or an organiser rejected, which no page will show whatever is decided."""
    return queryset.filter(status__in=states, pledge__status__in=sorted(ANSWERABLE_STATES))


@dataclass(frozen=True)
class ModerationCounts:
    hidden: int
    flagged: int
    waiting: int
    # Stories of what changed waiting for a decision (pending or hidden).
    stories: int = 0

    @property
    def total(self) -> int:
        return self.hidden + self.flagged + self.waiting + self.stories


def _moderation_filter(
    queryset: QuerySet[Any],
    *,
    sector: str,
    flag: str,
    sector_field: str = "sector_mask",
    flags_field: str = "flags",
) -> QuerySet[Any]:
    if sector:
        queryset = queryset.filter(**{f"{sector_field}__in": masks_with(SECTOR_BITS[sector])})
    if flag:
        if connection.vendor == "postgresql":
            # jsonb containment: ["reason"] is inside flags.
            queryset = queryset.filter(**{f"{flags_field}__contains": [flag]})
        else:
            # SQLite's JSONField has no contains lookup; match the quoted reason
            # in the JSON text instead (reasons are slugs, so no escaping issue).
            queryset = queryset.filter(**{f"{flags_field}__icontains": f'"{flag}"'})
    return queryset


def _with_moderation_details(queryset: QuerySet[Pledge]) -> QuerySet[Pledge]:
    """Everything a moderation card shows, in a fixed number of queries (the campaign for a
    paper pledge's withdrawal link)."""
    return queryset.select_related("campaign").prefetch_related(
        Prefetch(
            "reports",
            queryset=Report.objects.only("id", "pledge_id", "reason", "detail").order_by("created_at", "id"),
        ),
        Prefetch(
            "moderation_events",
            queryset=ModerationEvent.objects.filter(subject=Subject.PLEDGE)
            .select_related("actor")
            .order_by("created_at", "id"),
        ),
    )


def _need_first(queryset: QuerySet[Any], *, hidden: str) -> QuerySet[Any]:
    """Most urgent first: hidden after reports or by an organiser (the public already
    objected), then what the screening flagged, then the rest oldest first (the
    person has waited longest)."""
    return queryset.annotate(
        need=Case(When(status=hidden, then=Value(0)), When(flags=[], then=Value(2)), default=Value(1))
    ).order_by("need", "created_at", "id")


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
        ordered = _need_first(queryset.filter(status__in=states), hidden=Status.HIDDEN)
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
    stories = _moderation_filter(
        _stories_waiting(Story.objects.filter(campaign=campaign), list(STORY_QUEUE_STATES)),
        sector=sector,
        flag=flag,
        sector_field="pledge__sector_mask",
    )
    return ModerationCounts(
        hidden=row["hidden"], flagged=row["flagged"], waiting=row["waiting"], stories=stories.count()
    )


@dataclass(frozen=True)
class QueueNews:
    """What came into the queue since an organiser opened it (moderation_news)."""

    waiting: int = 0
    flagged: int = 0
    hidden: int = 0
    reports: int = 0
    stories: int = 0

    @property
    def total(self) -> int:
        return self.waiting + self.flagged + self.hidden + self.reports + self.stories


def _not_moved_by(viewer_id: int, *, subject: str, pledge: str, since: datetime) -> Exists:
    """The item's latest move was this organiser's own decision since they opened the page
    (they hid a pledge, and it stays in the queue): that is no news to them."""
    return Exists(
        ModerationEvent.objects.filter(
            subject=subject,
            pledge_id=OuterRef(pledge),
            actor_id=viewer_id,
            to_status=OuterRef("status"),
            created_at__gt=since,
        )
    )


def moderation_news(
    *,
    campaign: Campaign,
    since: datetime,
    viewer_id: int,
    sector: str = "",
    flag: str = "",
    subject: str = "",
) -> QueueNews:
    """Pledges and stories that came into the queue after `since` (by the time their
    status last changed), and reports made since on pledges in the queue, within the
    queue's filters. At most three aggregates, each reading the queue's partial
    indexes (pending and hidden only), however many pledges the campaign has."""
    news: dict[str, int] = {}
    if subject in ("", Subject.PLEDGE):
        arrived = _moderation_filter(
            Pledge.objects.filter(campaign=campaign, status__in=QUEUE_STATES, status_changed_at__gt=since),
            sector=sector,
            flag=flag,
        ).exclude(_not_moved_by(viewer_id, subject=Subject.PLEDGE, pledge="pk", since=since))
        pending = Q(status=Status.PENDING)
        news.update(
            arrived.aggregate(
                hidden=Count("id", filter=Q(status=Status.HIDDEN)),
                flagged=Count("id", filter=pending & ~Q(flags=[])),
                waiting=Count("id", filter=pending & Q(flags=[])),
            )
        )
        # Only a published pledge takes reports, so the ones in the queue are hidden:
        # after these very reports, or by an organiser. A report on a pledge still on
        # the wall is not news here, since the queue does not list it.
        reports = _moderation_filter(
            Report.objects.filter(
                pledge__campaign=campaign, pledge__status__in=QUEUE_STATES, created_at__gt=since
            ),
            sector=sector,
            flag=flag,
            sector_field="pledge__sector_mask",
            flags_field="pledge__flags",
        )
        news["reports"] = reports.count()
    if subject in ("", Subject.STORY):
        stories = _moderation_filter(
            _stories_waiting(
                Story.objects.filter(campaign=campaign, status_changed_at__gt=since), list(STORY_QUEUE_STATES)
            ),
            sector=sector,
            flag=flag,
            sector_field="pledge__sector_mask",
        ).exclude(_not_moved_by(viewer_id, subject=Subject.STORY, pledge="pledge_id", since=since))
        news["stories"] = stories.count()
    return QueueNews(**news)


def moderation_pledges(*, public_ids: list[str]) -> list[Pledge]:
    """Pledges by public id with their moderation details, to redraw their cards."""
    return list(_with_moderation_details(Pledge.objects.filter(public_id__in=public_ids)).order_by("id"))


# --- Stories of what changed ---------------------------------------------------------------


def _with_story_details(queryset: QuerySet[Story]) -> QuerySet[Story]:
    """Everything a story's card shows, its pledge and the decisions about the story,
    in a fixed number of queries. A story is named by its pledge's public id."""
    return queryset.select_related("pledge").prefetch_related(
        Prefetch(
            "pledge__moderation_events",
            queryset=ModerationEvent.objects.filter(subject=Subject.STORY)
            .select_related("actor")
            .order_by("created_at", "id"),
            to_attr="story_events",
        )
    )


def moderation_stories(
    *, campaign: Campaign, status: str = "", sector: str = "", flag: str = "", limit: int = QUEUE_PAGE
) -> list[Story]:
    """The stories an organiser should look at, in the pledges' order of urgency; with a
    status, that status only (private ones too: organisers may read, never publish them)."""
    queryset = _moderation_filter(
        Story.objects.filter(campaign=campaign), sector=sector, flag=flag, sector_field="pledge__sector_mask"
    )
    if status and status not in STORY_QUEUE_STATES:
        ordered = queryset.filter(status=status).order_by("-status_changed_at", "-id")
    else:
        states = [status] if status else list(STORY_QUEUE_STATES)
        ordered = _need_first(_stories_waiting(queryset, states), hidden=StoryStatus.HIDDEN)
    return list(_with_story_details(ordered)[:limit])


def moderation_stories_by_pledge(*, public_ids: list[str]) -> list[Story]:
    """Stories by their pledge's public id with their details, to redraw their cards."""
    return list(_with_story_details(Story.objects.filter(pledge__public_id__in=public_ids)).order_by("id"))


def story_ids_and_texts(*, public_ids: list[str]) -> dict[str, tuple[int, str]]:
    """{pledge public id: (story id, story text)} of the stories a decision names."""
    rows = Story.objects.filter(pledge__public_id__in=public_ids).values_list(
        "pledge__public_id", "pk", "text"
    )
    return {public_id: (pk, text) for public_id, pk, text in rows}


def story_statuses(*, public_ids: list[str]) -> dict[str, str]:
    """{pledge public id: its story's status} now, to explain a skipped decision."""
    rows = Story.objects.filter(pledge__public_id__in=public_ids).values_list("pledge__public_id", "status")
    return dict(rows)


# --- The organisers' CSV export ----------------------------------------------------------

EXPORT_COLUMNS = (
    "public_id",
    "status",
    "created_at",
    "confirmed_at",
    "published_at",
    "text",
    "display_name",
    "is_anonymous",
    "role",
    "organisation",
    "organisation_code",
    "organisation_slug",
    "verified",
    "verified_badge",
    "region",
    "kind",
    "sector_mask",
    "email",
    "wants_reminders",
    "flags",
    "report_count",
    "rejection_reason",
    "channel",
    "paper_reference",
    "outcome",
    "outcome_at",
    "story_status",
    "story_text",
)


def pledges_for_export(
    *, campaign: Campaign, filters: WallFilters, status: str = ""
) -> Iterator[tuple[Any, ...]]:
    """Every matching pledge as a row, streamed from a server-side cursor: a
    million rows never sit in memory at once."""
    queryset = Pledge.objects.filter(campaign=campaign)
    if status:
        queryset = queryset.filter(status=status)
    queryset = pledges_filtered(queryset, filters).annotate(
        # The directory entry the pledge counts for (one LEFT JOIN): the typed text beside it
        # may say "riverside homes ltd" for what the directory calls Riverside Homes.
        organisation_code=F("org__code"),
        organisation_slug=F("org__slug"),
        # The badge in the words the permalink uses; a staff badge names its organisation.
        verified_badge=Case(
            When(verified=Verified.STAFF, org__isnull=False, then=Concat(Value("staff at "), F("org__name"))),
            When(verified=Verified.SHARED_DOMAIN, then=Value(campaign.staff_domains_label)),
            default=Value(""),
            output_field=CharField(),
        ),
        story_status=F("story__status"),
        # Only a published story's words leave the database: a private one stays between
        # the pledger and the queue, and a pending or refused one is not the campaign's yet.
        story_text=Case(
            When(story__status=StoryStatus.PUBLISHED, then=F("story__text")),
            default=Value(""),
            output_field=CharField(),
        ),
    )
    return queryset.order_by("created_at", "id").values_list(*EXPORT_COLUMNS).iterator(chunk_size=2000)


# --- A pledger's own data ----------------------------------------------------------------


def pledger_decisions(pledges: list[Pledge]) -> dict[int, dict[str, Any]]:
    """The decisions about each pledge, for its pledger's download (pledges.privacy):
    what was done and when, not who did it."""
    events = ModerationEvent.objects.filter(pledge__in=pledges).order_by("created_at", "id")
    decisions: dict[int, list[dict[str, Any]]] = {pledge.pk: [] for pledge in pledges}
    for event in events.only("pledge_id", "subject", "action", "to_status", "created_at"):
        decisions[event.pledge_id].append(
            {
                "subject": event.subject,
                "action": event.action,
                "to_status": event.to_status,
                "at": event.created_at,
            }
        )
    return {pk: {"decisions": found} for pk, found in decisions.items()}


# --- A decision's pledges ------------------------------------------------------------------


def pledge_ids_and_texts(*, public_ids: list[str]) -> dict[str, tuple[int, str]]:
    """{public id: (id, text)} of the pledges a decision names that still exist."""
    rows = Pledge.objects.filter(public_id__in=public_ids).values_list("public_id", "pk", "text")
    return {public_id: (pk, text) for public_id, pk, text in rows}


def pledge_statuses(*, public_ids: list[str]) -> dict[str, str]:
    """{public id: status} now, to say what happened to a skipped decision's pledges."""
    return dict(Pledge.objects.filter(public_id__in=public_ids).values_list("public_id", "status"))
