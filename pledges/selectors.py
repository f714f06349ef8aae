"""Reads that span relations: live totals, the wall and feeds.

The wall's pledges read from the read replica when one is configured
(changeday/lib/dbrouter.py); the live totals always read the primary."""

from __future__ import annotations

import re
from base64 import urlsafe_b64decode, urlsafe_b64encode
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.cache import cache
from django.db import connection, connections, transaction
from django.db.models import F, FilteredRelation, Max, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from campaigns.models import Campaign
from changeday.lib.dbrouter import replica_or_primary
from changeday.lib.hashing import keyed_hash
from changeday.lib.pagecache import generation_bump
from organisations.models import Organisation
from organisations.selectors import organisation_named
from outbox import selectors as outbox_selectors
from pledges.models import (
    CHANGE_OUTCOMES,
    PUBLIC_STATES,
    SECTOR_BITS,
    Kind,
    Outcome,
    Pledge,
    Region,
    SectorSlug,
    Status,
    Story,
    StoryStatus,
    TotalShard,
    is_integration,
)

# The outcomes the live counters count, in the order pages and the API show them.
OUTCOME_COUNTED: tuple[str, ...] = (Outcome.DONE, Outcome.STARTED)


@dataclass(frozen=True)
class Totals:
    total: int
    integration: int
    by_sector: dict[str, int]
    by_region: dict[str, int] = field(default_factory=dict)
    by_kind: dict[str, int] = field(default_factory=dict)
    updated_at: datetime | None = None
    # Published pledges whose pledger said "done" or "started" (the follow-through).
    by_outcome: dict[str, int] = field(default_factory=dict)


# Early on "0% of 500,000" reads as failure: until a campaign passes these, the bar runs to
# the next one ("1,000 is the next milestone"), then to the target. Each is ten times the one
# before, as far as the target; the page hands the list to static/js/changeday.js
# (data-milestones), so the bar moves on to the same milestone after a live update.
FIRST_MILESTONE = 1_000
# "+N in the last hour" is a feeling, not a counter: a minute old is fresh enough, and one
# count per campaign a minute costs nothing at peak.
LAST_HOUR_CACHE_SECONDS = 60


def campaign_milestones(*, target: int) -> list[int]:
    """1,000, 10,000, 100,000, 1,000,000 ... below the target."""
    milestones = []
    milestone = FIRST_MILESTONE
    while milestone < target:
        milestones.append(milestone)
        milestone *= 10
    return milestones


def next_milestone(*, total: int, target: int) -> int | None:
    """The milestone the bar runs to, or None once the bar runs to the target."""
    return next((m for m in campaign_milestones(target=target) if total < m), None)


def campaign_published_last_hour(*, campaign: Campaign) -> int:
    """Pledges published in the past hour, at most a minute old. A range of the wall's
    index (pledge_wall_published_idx: campaign, published_at, published only)."""
    key = f"last-hour:v1:{campaign.pk}:{campaign.created_at.timestamp()}"
    count = cache.get(key)
    if count is None:
        since = timezone.now() - timedelta(hours=1)
        # A scan of pledges, as the wall's: the replica when there is one (a minute old anyway).
        count = (
            Pledge.objects.using(replica_or_primary())
            .filter(campaign=campaign, status=Status.PUBLISHED, published_at__gte=since)
            .count()
        )
        cache.set(key, count, LAST_HOUR_CACHE_SECONDS)
    return count


def campaign_totals_display(*, campaign: Campaign) -> dict[str, object]:
    """What templates/pledges/_totals.html shows (campaign page and wall)."""
    totals = campaign_totals_cached(campaign=campaign)
    milestone = next_milestone(total=totals.total, target=campaign.target)
    return {
        "totals": totals,
        "milestone": milestone,
        "milestones": " ".join(str(m) for m in campaign_milestones(target=campaign.target)),
        "last_hour": campaign_published_last_hour(campaign=campaign),
        "progress": min(100, round(100 * totals.total / campaign.target)),
        "sectors": [(slug, SectorSlug(slug).label, count) for slug, count in totals.by_sector.items()],
        "done": totals.by_outcome.get(Outcome.DONE, 0),
        "started": totals.by_outcome.get(Outcome.STARTED, 0),
    }


# Most peak traffic is people reloading the campaign page to watch the total:
# one second in the shared cache turns a burst into one shard aggregate per
# campaign per second, and keeps what they see within 2 seconds of a change.
TOTALS_CACHE_SECONDS = 1


def wall_generation_key(campaign_id: int) -> str:
    return f"wall-generation:v1:{campaign_id}"


def wall_changed(*, campaign_id: int) -> None:
    """A pledge joined or left the public pages: shared wall pages made before are stale."""
    generation_bump(wall_generation_key(campaign_id))


def totals_cache_key(campaign: Campaign) -> str:
    # created_at in the key: a test database may hand the same id to a new campaign.
    # v2: Totals gained by_outcome; a v1 copy unpickled without it would break a page.
    return f"totals:v2:{campaign.pk}:{campaign.created_at.timestamp()}"


def campaign_totals_cached(*, campaign: Campaign) -> Totals:
    """campaign_totals for pages and the widget, at most a second old."""
    key = totals_cache_key(campaign)
    # Redis down reads as a miss (changeday.lib.cache): the shards answer instead.
    cached = cache.get(key)
    if cached is not None:
        return cached
    totals = campaign_totals(campaign=campaign)
    cache.set(key, totals, timeout=TOTALS_CACHE_SECONDS)
    return totals


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
        by_outcome={outcome: values.get(f"outcome:{outcome}", 0) for outcome in OUTCOME_COUNTED},
    )


def masks_with(bit: int) -> list[int]:
    """The sector masks that hold this sector's bit."""
    # sector_mask is 1..15 (a check constraint), so the masks holding one bit
    # are few enough to list: an IN over an integer column, no bitwise SQL.
    return [mask for mask in range(1, 16) if mask & bit]


def outbox_failed_count(*, campaign: Campaign) -> int:
    """How many of a campaign's emails were given up (outbox.selectors.outbox_failed_count)."""
    return outbox_selectors.outbox_failed_count(campaign_id=campaign.pk)


# --- The wall -------------------------------------------------------------------------

WALL_PAGE_SIZE = 24
MAX_SEARCH = 200
INTEGRATION_ON = ("1", "on", "true", "yes")
INTEGRATION_OFF = ("", "0", "off", "false", "no")


class BadWallQuery(ValueError):
    """A filter or cursor the wall cannot use; the message is for people."""


# The wall's outcome filter: one answer, or "changes" for done and started together.
OUTCOME_CHANGES = "changes"
OUTCOME_FILTERS: tuple[str, ...] = (*Outcome.values, OUTCOME_CHANGES)
# The wall's orders: newest first (""), or the pledges that became changes first.
ORDER_CHANGES_FIRST = "changes"
WALL_ORDERS: tuple[str, ...] = ("", ORDER_CHANGES_FIRST)
# Listed in the same order in the queries and the partial indexes (pledges/0018), so
# PostgreSQL sees at once that the one's condition implies the other's.
CHANGES = sorted(CHANGE_OUTCOMES)
NOT_CHANGES = sorted({"", *Outcome.values} - CHANGE_OUTCOMES)


@dataclass(frozen=True)
class WallFilters:
    sector: str = ""
    integration: bool = False
    region: str = ""
    kind: str = ""
    organisation: str = ""
    q: str = ""
    outcome: str = ""
    order: str = ""

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> WallFilters:
        sector = query.get("sector", "").strip()
        region = query.get("region", "").strip()
        kind = query.get("kind", "").strip()
        outcome = query.get("outcome", "").strip()
        order = query.get("order", "").strip()
        if sector and sector not in SECTOR_BITS:
            raise BadWallQuery("Choose a sector from the list.")
        if region and region not in Region.values:
            raise BadWallQuery("Choose a region from the list.")
        if kind and kind not in Kind.values:
            raise BadWallQuery("Choose personal or organisational.")
        if outcome and outcome not in OUTCOME_FILTERS:
            raise BadWallQuery(
                "Choose an outcome from the list: done, started, not yet, didn't work, changes."
            )
        if order not in WALL_ORDERS:
            raise BadWallQuery("Use order=changes to see the changes made first, or leave it out.")
        organisation = " ".join(query.get("organisation", "").split())
        q = " ".join(query.get("q", "").split())
        if len(organisation) > MAX_SEARCH or len(q) > MAX_SEARCH:
            raise BadWallQuery(f"Keep searches to {MAX_SEARCH} characters or fewer.")
        if "\x00" in organisation + q:
            raise BadWallQuery("Searches cannot contain null characters.")
        # Exactly the values the API documents: anything else is a mistake to say, not to guess.
        integration = query.get("integration", "")
        if integration not in INTEGRATION_ON + INTEGRATION_OFF:
            raise BadWallQuery("Use integration=1 for pledges touching two or more sectors, or leave it out.")
        return cls(
            sector=sector,
            integration=integration in INTEGRATION_ON,
            region=region,
            kind=kind,
            organisation=organisation,
            q=q,
            outcome=outcome,
            order=order,
        )

    def as_query(self) -> dict[str, str]:
        pairs = {
            "sector": self.sector,
            "integration": "1" if self.integration else "",
            "region": self.region,
            "kind": self.kind,
            "organisation": self.organisation,
            "q": self.q,
            "outcome": self.outcome,
            "order": self.order,
        }
        return {key: value for key, value in pairs.items() if value}


@dataclass(frozen=True)
class WallPage:
    pledges: list[Pledge]
    next_cursor: str | None


# Changes first is two keyset walks, one after the other: the pledges that became changes
# (CHANGES), newest first, then the rest (NOT_CHANGES), newest first. Each walk reads an
# index in order (pledge_wall_changes_idx, then the wall's own), so the last page of a
# million costs what the first does; a sort on "is it a change?" would read them all.
# A cursor names the walk it stopped in.
_PHASE_CHANGES = "c"
_PHASE_REST = "r"
_BROKEN_CURSOR = "That page link is broken: start again from the first page."


def _encode_cursor(pledge: Pledge, phase: str = "") -> str:
    # Published time and public id: keyset order without exposing database ids.
    micros = int(pledge.published_at.timestamp() * 1_000_000)
    raw = f"{phase}:{micros}:{pledge.public_id}" if phase else f"{micros}:{pledge.public_id}"
    return urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, *, phased: bool = False) -> tuple[str, datetime, str]:
    """(phase, published time, public id); the phase is "" on the newest-first wall."""
    try:
        raw = urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        phase = ""
        if phased:
            phase, raw = raw.split(":", 1)
        micros, public_id = raw.split(":", 1)
        when = datetime.fromtimestamp(int(micros) / 1_000_000, tz=UTC)
    except (ValueError, UnicodeDecodeError, OverflowError, OSError) as exc:
        raise BadWallQuery(_BROKEN_CURSOR) from exc
    if phased and phase not in (_PHASE_CHANGES, _PHASE_REST):
        raise BadWallQuery(_BROKEN_CURSOR)
    if not public_id.isalnum() or len(public_id) > 16:
        raise BadWallQuery(_BROKEN_CURSOR)
    return phase, when, public_id


def _after(queryset: QuerySet[Pledge], when: datetime, public_id: str) -> QuerySet[Pledge]:
    # The bare range on published_at lets PostgreSQL start the index scan at
    # the cursor; with only the OR it read from the top, the slower the deeper
    # the page (bench/README.md).
    return queryset.filter(published_at__lte=when).filter(
        Q(published_at__lt=when) | Q(public_id__lt=public_id)
    )


def _newest_first(queryset: QuerySet[Pledge], limit: int) -> list[Pledge]:
    return list(queryset.order_by("-published_at", "-public_id")[:limit])


def wall_pledges(
    *,
    campaign: Campaign,
    filters: WallFilters,
    cursor: str = "",
    limit: int = WALL_PAGE_SIZE,
    org_id: int | None = None,
) -> WallPage:
    """Published pledges, newest first (or changes made first), one keyset page at a
    time: the last page of a million costs what the first does (no OFFSET, no COUNT).
    Each carries `story_text`: its published story, or None."""
    # The replica when there is one: a pledge published a moment ago may show
    # on the next reload instead of this one. Totals never come from there.
    # PostgreSQL reads IN ('published'), PUBLIC_STATES' one state, as = 'published',
    # which is the condition of the wall's and the word search's partial indexes.
    queryset = Pledge.objects.using(replica_or_primary()).filter(campaign=campaign, status__in=PUBLIC_STATES)
    queryset = pledges_filtered(queryset, filters)
    if filters.q and connection.vendor == "postgresql":
        queryset = _by_id_if_rare(queryset, campaign=campaign, filters=filters)
    if org_id is not None:
        # One organisation's pledges (its page): pledge_org_wall_idx, read in the same order.
        # After the word search's probe, which asks the whole wall (and shares its answer with
        # the wall): asked with the organisation, it read all of a large one's pledges.
        queryset = queryset.filter(org_id=org_id)
    queryset = with_published_story(queryset.select_related("org").only(*WALL_FIELDS, *WALL_ORG_FIELDS))
    if filters.order == ORDER_CHANGES_FIRST:
        page = _changes_first(queryset, cursor=cursor, limit=limit)
    else:
        if cursor:
            _, when, public_id = _decode_cursor(cursor)
            queryset = _after(queryset, when, public_id)
        rows = _newest_first(queryset, limit + 1)
        next_cursor = _encode_cursor(rows[limit - 1]) if len(rows) > limit else None
        page = WallPage(pledges=rows[:limit], next_cursor=next_cursor)
    for pledge in page.pledges:
        # A card's "verified: NHS staff" names the campaign's label: no query per card.
        pledge.campaign = campaign
    return page


def _changes_first(queryset: QuerySet[Pledge], *, cursor: str, limit: int) -> WallPage:
    phase, when, public_id = _decode_cursor(cursor, phased=True) if cursor else (_PHASE_CHANGES, None, "")
    rows: list[tuple[str, Pledge]] = []
    if phase == _PHASE_CHANGES:
        changes = queryset.filter(outcome__in=CHANGES)
        if when is not None:
            changes = _after(changes, when, public_id)
        rows = [(_PHASE_CHANGES, pledge) for pledge in _newest_first(changes, limit + 1)]
        when = None
    if len(rows) <= limit:
        # The changes ran out on this page: the rest follow from their newest.
        rest = queryset.filter(outcome__in=NOT_CHANGES)
        if when is not None:
            rest = _after(rest, when, public_id)
        rows += [(_PHASE_REST, pledge) for pledge in _newest_first(rest, limit + 1 - len(rows))]
    next_cursor = _encode_cursor(rows[limit - 1][1], rows[limit - 1][0]) if len(rows) > limit else None
    return WallPage(pledges=[pledge for _, pledge in rows[:limit]], next_cursor=next_cursor)


def with_published_story(queryset: QuerySet[Pledge]) -> QuerySet[Pledge]:
    """Each pledge with `story_text`, its story if published (the pledger allowed it and
    it passed moderation), else None: one LEFT JOIN on the story's unique pledge key,
    never a private, pending, rejected or hidden story, and no query per card."""
    return queryset.annotate(
        published_story=FilteredRelation(
            "story", condition=Q(story__status=StoryStatus.PUBLISHED, story__public=True)
        )
    ).annotate(story_text=F("published_story__text"))


def changes_made(*, campaign: Campaign, sector: str = "", limit: int) -> list[Pledge]:
    """Published pledges whose pledger answered done or started, the latest change first:
    the answer, or the published story's publication or last edit if later. Each carries
    `story_text` (see with_published_story) and `changed_at`, that latest change.

    Any pledge, however old: an answer given months after the pledge still reaches the top,
    where the newest-pledges feed would never show it."""
    queryset = Pledge.objects.using(replica_or_primary()).filter(campaign=campaign, status__in=PUBLIC_STATES)
    queryset = pledges_filtered(queryset, WallFilters(sector=sector, outcome=OUTCOME_CHANGES))
    queryset = with_published_story(queryset.select_related("org").only(*WALL_FIELDS, *WALL_ORG_FIELDS))
    answered_at = Coalesce("outcome_at", "published_at")
    # SQLite's GREATEST is NULL when any argument is: a pledge without a published story
    # falls back to its answer through the Coalesce.
    story_changed_at = Greatest(
        "published_story__published_at", "published_story__status_changed_at", "published_story__updated_at"
    )
    queryset = queryset.annotate(changed_at=Greatest(answered_at, Coalesce(story_changed_at, answered_at)))
    pledges = list(queryset.order_by("-changed_at", "-public_id")[:limit])
    for pledge in pledges:
        pledge.campaign = campaign
    return pledges


def pledge_published_story(*, pledge: Pledge) -> Story | None:
    """The pledge's story if the public may read it (see with_published_story)."""
    if not pledge.is_public:
        return None
    return Story.objects.filter(pledge=pledge, status=StoryStatus.PUBLISHED, public=True).first()


# A word search with at most this many matches reads them all from the word index and sorts them;
# one with more walks the wall index newest first until a page has matched.
SEARCH_SORT_LIMIT = 5000
# How long a search found to have more matches than that walks at once, without asking again.
COMMON_SEARCH_SECONDS = 600


def _by_id_if_rare(
    queryset: QuerySet[Pledge], *, campaign: Campaign, filters: WallFilters
) -> QuerySet[Pledge]:
    """`queryset` (the wall's pledges matching `filters`, a word search among them) as the ids of
    its matches when they are few, or as it is when they are many (_all_matches_if_few).

    Asking costs a common word a few thousand rows, tens of milliseconds, on every page the wall's
    shared cache has to make again, so the answer "many" is kept for a while: a word that is
    common now stays common."""
    query = "&".join(f"{key}={value}" for key, value in sorted(filters.as_query().items()))
    key = f"wall-search-common:v1:{campaign.pk}:{keyed_hash(query, purpose='wall-search')}"
    if cache.get(key):
        return queryset
    matches = _all_matches_if_few(queryset)
    if matches is None:
        cache.set(key, True, COMMON_SEARCH_SECONDS)
        return queryset
    return Pledge.objects.using(queryset.db).filter(id__in=matches)


def _all_matches_if_few(queryset: QuerySet[Pledge]) -> list[int] | None:
    """The ids of every pledge `queryset` matches if there are at most SEARCH_SORT_LIMIT, else None.

    The planner cannot tell a rare word from a common one it has no statistics for, and takes
    both for common: it walks the wall index newest first, testing each pledge's words, until a
    page has matched. For a word few pledges have, that walk read the whole wall, the slowest
    page of all at a million pledges (bench/README.md), and anyone can type such a word. Asked
    through the word index alone (index and sequential scans off for this one query), the
    answer costs at most
    SEARCH_SORT_LIMIT rows whatever the word: all the matches of a rare word, or the proof that
    a word is common enough for the walk to find a page soon.
    """
    alias = queryset.db
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        # Set for this transaction and put back after: a caller's own transaction (a test's,
        # say) goes on after this query with the planner it had.
        cursor.execute("SELECT current_setting('enable_indexscan'), current_setting('enable_seqscan')")
        before = cursor.fetchone()
        cursor.execute(
            "SELECT set_config('enable_indexscan', 'off', true), set_config('enable_seqscan', 'off', true)"
        )
        try:
            ids = list(queryset.order_by().values_list("id", flat=True)[: SEARCH_SORT_LIMIT + 1])
        finally:
            cursor.execute(
                "SELECT set_config('enable_indexscan', %s, true), set_config('enable_seqscan', %s, true)",
                before,
            )
    return ids if len(ids) <= SEARCH_SORT_LIMIT else None


# What a card shows; the email never leaves the database on this path.
WALL_FIELDS = (
    "public_id",
    "text",
    "display_name",
    "is_anonymous",
    "role",
    "organisation",
    "region",
    "kind",
    "sector_mask",
    "published_at",
    "status",
    "campaign_id",
    "outcome",
    "outcome_at",
    "verified",
)
# The directory entry beside each card (one LEFT JOIN): the name it shows and verifies.
WALL_ORG_FIELDS = ("org__name", "org__slug")
INTEGRATION_MASKS = [mask for mask in range(1, 16) if is_integration(mask)]


def pledges_filtered(queryset: QuerySet[Pledge], filters: WallFilters) -> QuerySet[Pledge]:
    """The wall's filters, shared by the wall, the API, the feeds and moderation's export."""
    if filters.sector:
        queryset = queryset.filter(sector_mask__in=masks_with(SECTOR_BITS[filters.sector]))
    if filters.integration:
        queryset = queryset.filter(sector_mask__in=INTEGRATION_MASKS)
    if filters.region:
        queryset = queryset.filter(region=filters.region)
    if filters.kind:
        queryset = queryset.filter(kind=filters.kind)
    if filters.organisation:
        org_id = _organisation_with_slug(filters.organisation, using=queryset.db)
        if org_id is None:
            # A directory organisation's name gives what its slug gives, by the rule the form
            # counts typed names with: iexact on the text would miss "riverside homes ltd".
            named = organisation_named(name=filters.organisation, using=queryset.db)
            org_id = named.pk if named is not None else None
        if org_id is not None:
            # The organisation's own pledges, read from pledge_org_wall_idx in the wall's order.
            queryset = queryset.filter(org_id=org_id)
        else:
            queryset = queryset.filter(organisation__iexact=filters.organisation)
    if filters.outcome == OUTCOME_CHANGES:
        queryset = queryset.filter(outcome__in=CHANGES)
    elif filters.outcome:
        queryset = queryset.filter(outcome=filters.outcome)
    if filters.q:
        queryset = _word_search(queryset, filters.q)
    return queryset


_SLUG_SHAPED = re.compile(r"[-a-z0-9_]{1,120}")


def _organisation_with_slug(value: str, *, using: str) -> int | None:
    """The id of the directory entry whose slug `value` is, else None (a name: the
    directory's, or one typed, as before the directory)."""
    value = value.lower()
    if not _SLUG_SHAPED.fullmatch(value):
        return None
    return Organisation.objects.using(using).filter(slug=value).values_list("id", flat=True).first()


def _word_search(queryset: QuerySet[Pledge], q: str) -> QuerySet[Pledge]:
    if connection.vendor == "postgresql":
        from django.contrib.postgres.search import SearchQuery, SearchVector

        # Same expression as the GIN index pledge_search_published_idx, which holds
        # published pledges only: the index answers when the query also asks for
        # status = 'published' (the wall does; the export only with that status).
        return queryset.annotate(search=SearchVector("text", config="english")).filter(
            search=SearchQuery(q, config="english", search_type="websearch")
        )
    # SQLite (the local default): every word somewhere in the text.
    for word in q.split()[:10]:
        queryset = queryset.filter(text__icontains=word)
    return queryset
