"""The organisers' moderation queue at /moderation/.

Every page works as plain forms that POST and redirect back (PRG). With htmx
the same forms post in the background and the view answers with a partial:
the status line, out-of-band updates of the counts and of each card decided.

A visitor's report of a pledge (report_create) posts from the pledge's page, where
report_section puts the form.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    QueryDict,
    StreamingHttpResponse,
)
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign
from campaigns.permissions import organiser_required
from campaigns.selectors import campaign_get_by_slug, campaign_get_current
from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import client_network, rate_limit
from moderation import selectors, services
from moderation.dashboard import HOURS, Hour, pledges_per_hour
from moderation.export import export_csv_lines
from moderation.forms import (
    CAMPAIGN_CHOICE_ERROR,
    STALE_SELECTION,
    DashboardForm,
    DecisionForm,
    QueueFilterForm,
    QueueNewsForm,
    ReportForm,
)
from moderation.models import (
    ORGANISER_ACTIONS,
    Action,
    ModerationEvent,
    RejectionReason,
    ReportReason,
    Subject,
)
from moderation.subjects import story_version, subject_get
from pledges.models import Pledge, Status, Story, StoryStatus
from pledges.screening import FlagReason
from pledges.selectors import BadWallQuery, WallFilters, outbox_failed_count
from pledges.services import PledgeError
from pledges.views import find_pledge

REPORT_THANKS = "Thank you. An organiser will look at this pledge."
# The page shows 50; a bulk post naming far more than a page is not from it.
MAX_SELECTION = 200
# A selected item as its card names it: the (pledge's) public id, the status the card
# showed and, for a story, the version of the words it showed (story_version).
ITEM_RE = re.compile(
    r"^(?P<public_id>[0-9a-z]{1,16})(?::(?P<status>[a-z]{1,16})(?::(?P<version>[0-9a-f]{12}))?)?$"
)

DONE_VERBS = {
    Action.PUBLISH: "Published",
    Action.REJECT: "Rejected",
    Action.HIDE: "Hidden",
    Action.RESTORE: "Restored",
}
# What another organiser (or the pledger) did meanwhile, seen from a skipped decision.
STALE_MESSAGES = {
    Status.PUBLISHED: "Already published by someone else",
    Status.REJECTED: "Already rejected by someone else",
    Status.HIDDEN: "Already hidden (by someone else or after reports)",
    Status.PENDING: "Already sent back for moderation by someone else",
    Status.WITHDRAWN: "Withdrawn by the pledger in the meantime",
    Status.UNCONFIRMED: "Not confirmed by the pledger yet",
    StoryStatus.PRIVATE: "Made private by the pledger in the meantime",
}
SHORTCUTS = {
    Action.PUBLISH: "p",
    Action.REJECT: "r",
    Action.HIDE: "h",
    Action.RESTORE: "u",
}


class BadDecision(Exception):
    """A decision request the page could not have sent as it stands."""


@dataclass(frozen=True)
class HistoryLine:
    who: str
    event: ModerationEvent
    from_label: str
    to_label: str
    # What was done, in words.
    what: str = ""


@dataclass(frozen=True)
class Card:
    pledge: Pledge
    actions: list[tuple[str, str, str]]  # (action, label, shortcut)
    can_reject: bool
    flags: list[str]
    reports: list[tuple[str, int]]
    # Every report, counted towards hiding or not (pledge.report_count counts networks).
    report_total: int
    report_details: list[tuple[str, int]]
    history: list[HistoryLine]


def _flag_label(value: str) -> str:
    try:
        return str(FlagReason(value).label)
    except ValueError:
        return value


def _actor_name(event: ModerationEvent) -> str:
    if event.actor is not None:
        return event.actor.get_full_name() or event.actor.get_username()
    if event.action == Action.WITHDRAW:
        return "The pledger"
    return "Automatic (reports)"


def _status_label(statuses: type[Status] | type[StoryStatus], value: str) -> str:
    try:
        return str(statuses(value).label).lower()
    except ValueError:
        return value


def _what(event: ModerationEvent) -> str:
    if event.action == Action.WITHDRAW and event.actor_id is not None:
        return "withdrawn at the pledger's request"
    return str(event.get_action_display()).lower()


def _history(events: list[ModerationEvent], statuses: type[Status] | type[StoryStatus]) -> list[HistoryLine]:
    return [
        HistoryLine(
            who=_actor_name(event),
            event=event,
            from_label=_status_label(statuses, event.from_status),
            to_label=_status_label(statuses, event.to_status),
            what=_what(event),
        )
        for event in events
    ]


def _allowed(kind: str, status: str) -> list[str]:
    transitions = subject_get(kind).transitions
    return [action for action in ORGANISER_ACTIONS if status in transitions[action][0]]


def _buttons(allowed: list[str]) -> list[tuple[str, str, str]]:
    return [
        (action, Action(action).label, SHORTCUTS[action]) for action in allowed if action != Action.REJECT
    ]


def _card(pledge: Pledge) -> Card:
    """What one card shows, from the prefetched relations (no further queries)."""
    allowed = _allowed(Subject.PLEDGE, pledge.status)
    reports = pledge.reports.all()
    reasons = Counter(report.reason for report in reports)
    # One line per different text, first sent first: a flood of one text stays one line.
    details = Counter(report.detail for report in reports if report.detail)
    return Card(
        pledge=pledge,
        actions=_buttons(allowed),
        can_reject=Action.REJECT in allowed,
        flags=[_flag_label(flag) for flag in pledge.flags or []],
        reports=[(ReportReason(reason).label, n) for reason, n in sorted(reasons.items())],
        report_total=len(reports),
        report_details=list(details.items()),
        history=_history(list(pledge.moderation_events.all()), Status),
    )


@dataclass(frozen=True)
class StoryCard:
    story: Story
    pledge: Pledge
    # The pledge's public id names the story on the page and in a decision.
    public_id: str
    version: str
    actions: list[tuple[str, str, str]]
    can_reject: bool
    flags: list[str]
    history: list[HistoryLine]

    @property
    def is_private(self) -> bool:
        return self.story.status == StoryStatus.PRIVATE


def _story_card(story: Story) -> StoryCard:
    """What one story's card shows: the story, the pledge it tells of and the decisions
    about it, from the selector's joins (no further queries). A private story has no
    buttons: the pledger did not allow it on any page."""
    allowed = _allowed(Subject.STORY, story.status)
    return StoryCard(
        story=story,
        pledge=story.pledge,
        public_id=story.pledge.public_id,
        version=story_version(story.text),
        actions=_buttons(allowed),
        can_reject=Action.REJECT in allowed,
        flags=[_flag_label(flag) for flag in story.flags or []],
        history=_history(story.pledge.story_events, StoryStatus),
    )


@dataclass(frozen=True)
class QueueView:
    campaign: Campaign | None
    status: str
    sector: str
    flag: str
    subject: str = ""

    @property
    def query(self) -> str:
        """The filters as a query string, to come back to the same queue."""
        params = QueryDict(mutable=True)
        if self.campaign is not None:
            params["campaign"] = self.campaign.slug
        for name in ("subject", "status", "sector", "flag"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params.urlencode()

    @property
    def url(self) -> str:
        query = self.query
        return reverse("moderation:queue") + (f"?{query}" if query else "")

    def shows(self, status: str) -> bool:
        return status == self.status if self.status else status in selectors.QUEUE_STATES

    def lists(self, kind: str) -> bool:
        """Whether this view of the queue lists this kind of subject."""
        return self.subject in ("", kind)


def _queue_view(data: QueryDict) -> tuple[QueueView, QueueFilterForm]:
    form = QueueFilterForm(data)
    if not form.is_valid():
        return QueueView(campaign=campaign_get_current(), status="", sector="", flag=""), form
    values = form.cleaned_data
    view = QueueView(
        campaign=values["campaign"] or campaign_get_current(),
        status=values["status"],
        sector=values["sector"],
        flag=values["flag"],
        subject=values["subject"],
    )
    return view, form


def _render_queue(
    request: HttpRequest, view: QueueView, *, errors: list[str], status: int = 200
) -> HttpResponse:
    # Taken before the queue is read, so what arrives while it is read is told (perhaps
    # twice) rather than never. No earlier: at Change Day's pace most pages would open
    # with a "new" pledge already on them. A move whose transaction began before this
    # and committed after the read is missed until the next load (a few milliseconds).
    since = timezone.now()
    cards: list[Card] = []
    story_cards: list[StoryCard] = []
    if view.campaign is None:
        counts = selectors.ModerationCounts(hidden=0, flagged=0, waiting=0)
        failed_emails = 0
    else:
        query = {"campaign": view.campaign, "status": view.status, "sector": view.sector, "flag": view.flag}
        if view.lists(Subject.PLEDGE):
            cards = [_card(pledge) for pledge in selectors.moderation_queue(**query)]
        if view.lists(Subject.STORY):
            story_cards = [_story_card(story) for story in selectors.moderation_stories(**query)]
        counts = selectors.moderation_counts(campaign=view.campaign, sector=view.sector, flag=view.flag)
        failed_emails = outbox_failed_count(campaign=view.campaign)
    # The selects show what the queue really shows (a bad value falls back).
    fields = QueueFilterForm.base_fields
    campaign_choices = [(campaign.slug, campaign.name) for campaign in fields["campaign"].queryset.all()]
    filters = [
        ("campaign", "Campaign", campaign_choices, view.campaign.slug if view.campaign else ""),
        ("subject", "Show", fields["subject"].choices, view.subject),
        ("status", "Status", fields["status"].choices, view.status),
        ("sector", "Sector", fields["sector"].choices, view.sector),
        ("flag", "Screening flag", fields["flag"].choices, view.flag),
    ]
    context = {
        "view": view,
        "news_url": _news_url(view, since=since),
        "news_seconds": NEWS_EVERY_SECONDS,
        "filters": filters,
        "cards": cards,
        "story_cards": story_cards,
        "counts": counts,
        "failed_emails": failed_emails,
        "page_size": selectors.QUEUE_PAGE,
        "errors": errors,
        "reject_reasons": RejectionReason.choices,
        "bulk_actions": [(action, Action(action).label) for action in ORGANISER_ACTIONS],
    }
    return render(request, "moderation/queue.html", context, status=status)


# Permission first: a stranger learns nothing, not even which methods exist.
@organiser_required
@require_GET
def moderation_queue(request: HttpRequest) -> HttpResponse:
    view, form = _queue_view(request.GET)
    if not form.is_valid():
        errors = [error for field_errors in form.errors.values() for error in field_errors]
        return _render_queue(request, view, errors=errors, status=400)
    return _render_queue(request, view, errors=[])


# --- What came into the queue since the organiser opened it ---------------------------------

# How often the open queue asks for its news: often enough that a report is seen within
# the minute, rarely enough that a dozen organisers' tabs cost the database nothing.
NEWS_EVERY_SECONDS = 20


def _news_url(view: QueueView, *, since: datetime) -> str:
    if view.campaign is None:
        return ""
    params = QueryDict(view.query, mutable=True)
    params.pop("status", None)
    params["since"] = since.isoformat()
    return f"{reverse('moderation:news')}?{params.urlencode()}"


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def _news_parts(news: selectors.QueueNews) -> list[str]:
    parts = [
        (news.waiting, "new pledge waiting", "new pledges waiting"),
        (news.flagged, "new pledge flagged by screening", "new pledges flagged by screening"),
        (news.hidden, "pledge newly hidden", "pledges newly hidden"),
        (news.reports, "new report", "new reports"),
        (news.stories, "new story waiting", "new stories waiting"),
    ]
    return [_plural(n, one, many) for n, one, many in parts if n]


# Permission first, as the queue: the news says as much as the queue does.
@organiser_required
@require_GET
def moderation_news(request: HttpRequest) -> HttpResponse:
    """A line for the open queue's live region: what came in since it was opened, and a
    link that brings it in. The cards on the page are never touched."""
    form = QueueNewsForm(request.GET)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        response = render(request, "moderation/_alerts.html", {"notes": [("warning", first)]}, status=400)
    else:
        values = form.cleaned_data
        campaign = values["campaign"] or campaign_get_current()
        context: dict[str, Any] = {"parts": []}
        if campaign is not None:
            news = selectors.moderation_news(
                campaign=campaign,
                since=values["since"],
                viewer_id=request.user.pk,
                sector=values["sector"],
                flag=values["flag"],
                subject=values["subject"],
            )
            view = QueueView(
                campaign=campaign,
                status="",
                sector=values["sector"],
                flag=values["flag"],
                subject=values["subject"],
            )
            context = {"parts": _news_parts(news), "since": values["since"], "url": view.url}
        response = render(request, "moderation/_news.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


# --- The organisers' dashboard ----------------------------------------------------------------

CHART_WIDTH = 960
CHART_HEIGHT = 230
PLOT_TOP = 28
PLOT_BOTTOM = 196
SLOT = CHART_WIDTH / HOURS
BAR_GAP = 3


@dataclass(frozen=True)
class HourBar:
    hour: Hour
    x: float
    y: float
    width: float
    height: float
    middle: float
    # Every sixth hour (UK time) is named under its bar.
    labelled: bool


def _hour_bars(hours: list[Hour]) -> list[HourBar]:
    peak = max((hour.total for hour in hours), default=0) or 1
    bars = []
    for n, hour in enumerate(hours):
        height = round((PLOT_BOTTOM - PLOT_TOP) * hour.total / peak, 1)
        x = round(n * SLOT + BAR_GAP / 2, 1)
        bars.append(
            HourBar(
                hour=hour,
                x=x,
                y=round(PLOT_BOTTOM - height, 1),
                width=round(SLOT - BAR_GAP, 1),
                height=height,
                middle=round(n * SLOT + SLOT / 2, 1),
                labelled=timezone.localtime(hour.start).hour % 6 == 0,
            )
        )
    return bars


# How often the open dashboard asks for its figures again: at least once a minute, as the
# issue asks, and never oftener than they change (they are counted once a minute,
# moderation.dashboard), so a dozen organisers' tabs cost one count a minute between them.
DASHBOARD_REFRESH_SECONDS = 30


def _dashboard_context(request: HttpRequest) -> tuple[dict[str, Any], list[str]]:
    form = DashboardForm(request.GET)
    if not form.is_valid():
        campaign = None
        errors = [error for field_errors in form.errors.values() for error in field_errors]
    else:
        campaign = form.cleaned_data["campaign"] or campaign_get_current()
        errors = []
    day = pledges_per_hour(campaign=campaign) if campaign is not None else None
    query = f"?{urlencode({'campaign': campaign.slug})}" if campaign else ""
    context = {
        "campaign": campaign,
        "errors": errors,
        "day": day,
        "bars": _hour_bars(day.hours) if day else [],
        # Newest first in the tables: the hour under way is what an organiser looks for.
        "rows": list(reversed(day.hours)) if day else [],
        "hours": HOURS,
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
        "plot_top": PLOT_TOP,
        "plot_bottom": PLOT_BOTTOM,
        "queue_url": QueueView(campaign=campaign, status="", sector="", flag="").url,
        "dashboard_url": f"{reverse('moderation:dashboard')}{query}",
        "day_url": f"{reverse('moderation:dashboard-day')}{query}" if campaign else "",
        "refresh_seconds": DASHBOARD_REFRESH_SECONDS,
    }
    return context, errors


@organiser_required
@require_GET
def moderation_dashboard(request: HttpRequest) -> HttpResponse:
    """Pledges confirmed each hour of the last two days, in all, by sector and by region."""
    context, errors = _dashboard_context(request)
    response = render(request, "moderation/dashboard.html", context, status=400 if errors else 200)
    response["Cache-Control"] = "private, no-store"
    return response


# Permission first, as the page: the figures say as much as the page does.
@organiser_required
@require_GET
def moderation_dashboard_day(request: HttpRequest) -> HttpResponse:
    """The dashboard's figures alone, for the open page to put in place of its own
    (static/js/dashboard.js): the same counts, from the same one-minute cache."""
    context, errors = _dashboard_context(request)
    if errors:
        response = render(request, "moderation/_alerts.html", {"notes": [("danger", errors[0])]}, status=400)
    elif context["day"] is None:
        response = HttpResponse("There is no campaign yet.", status=404, content_type="text/plain")
    else:
        response = render(request, "moderation/_dashboard_day.html", context)
    response["Cache-Control"] = "private, no-store"
    return response


@dataclass(frozen=True)
class Kind:
    """How the page names one kind of subject in a decision."""

    subject: str
    field: str  # the name of a selected card's item (its checkbox, its own buttons)
    page_field: str  # every decidable card on the page, for "All on this page"
    noun: str
    nouns: str
    statuses: type[Status] | type[StoryStatus]


KINDS = (
    Kind(Subject.PLEDGE, "pledge", "page_item", "pledge", "pledges", Status),
    Kind(Subject.STORY, "story", "page_story", "story", "stories", StoryStatus),
)


@dataclass(frozen=True)
class Seen:
    """What a card showed of its item when the organiser decided."""

    status: str
    version: str


def _nouns(kinds: list[Kind]) -> str:
    return " and ".join(kind.nouns for kind in kinds) or "pledges"


def _selection(
    request: HttpRequest, *, all_on_page: bool, expected_status: str
) -> dict[Kind, dict[str, Seen]]:
    """{kind: {public id: what the organiser saw}} from the posted form."""
    posted = {kind: request.POST.getlist(kind.page_field if all_on_page else kind.field) for kind in KINDS}
    named = [kind for kind, values in posted.items() if values]
    if not named:
        raise BadDecision("Select at least one pledge or story first.")
    if sum(len(values) for values in posted.values()) > MAX_SELECTION:
        raise BadDecision(f"Decide on at most {MAX_SELECTION} {_nouns(named)} at once.")
    selections: dict[Kind, dict[str, Seen]] = {}
    for kind in named:
        selection: dict[str, Seen] = {}
        for value in posted[kind]:
            match = ITEM_RE.match(value)
            status = (match and match["status"]) or expected_status
            if match is None or status not in kind.statuses.values:
                raise BadDecision(STALE_SELECTION)
            version = match["version"] or ""
            # A story is decided on only with the words its card showed.
            if kind.subject == Subject.STORY and not version:
                raise BadDecision(STALE_SELECTION)
            selection[match["public_id"]] = Seen(status=status, version=version)
        selections[kind] = selection
    return selections


@dataclass
class Outcome:
    notes: list[tuple[str, str]]  # (message level tag, text)
    touched: dict[str, list[str]]  # {kind: public ids whose cards must be redrawn}


def _excerpt(text: str) -> str:
    return f"“{text[:60]}{'…' if len(text) > 60 else ''}”"


_IDS_AND_TEXTS = {
    Subject.PLEDGE: selectors.pledge_ids_and_texts,
    Subject.STORY: selectors.story_ids_and_texts,
}
_STATUSES_NOW = {Subject.PLEDGE: selectors.pledge_statuses, Subject.STORY: selectors.story_statuses}


def _decide(request: HttpRequest, form: DecisionForm) -> Outcome:
    values = form.cleaned_data
    selections = _selection(
        request, all_on_page=values["all_on_page"], expected_status=values["expected_status"]
    )
    found = {kind: _IDS_AND_TEXTS[kind.subject](public_ids=list(sel)) for kind, sel in selections.items()}
    if not any(found.values()):
        raise BadDecision(f"Those {_nouns(list(selections))} no longer exist. Reload the queue.")
    # What was decided first, then what no longer exists.
    notes: list[tuple[str, str]] = []
    gone: list[tuple[str, str]] = []
    touched: dict[str, list[str]] = {}
    for kind, selection in selections.items():
        missing = len(selection) - len(found[kind])
        if missing:
            gone.append(("warning", f"{missing} of the selected {kind.nouns} no longer exist."))
        if found[kind]:
            kind_notes, touched[kind.subject] = _decide_kind(request, kind, values, selection, found[kind])
            notes += kind_notes
    return Outcome(notes=notes + gone, touched=touched)


def _decide_kind(
    request: HttpRequest,
    kind: Kind,
    values: dict[str, Any],
    selection: dict[str, Seen],
    found: dict[str, tuple[int, str]],
) -> tuple[list[tuple[str, str]], list[str]]:
    """One kind's part of a decision: its notes, and the public ids to redraw."""
    action = values["action"]
    # One decision per status seen, so each item is checked against what its
    # card showed: a card another organiser changed meanwhile is skipped.
    by_seen: dict[str, list[int]] = {}
    for public_id, (pk, _) in found.items():
        by_seen.setdefault(selection[public_id].status, []).append(pk)
    versions = {pk: selection[public_id].version for public_id, (pk, _) in found.items()}
    done: list[Any] = []
    skipped: list[tuple[str, str]] = []
    for seen, pks in sorted(by_seen.items()):
        result = services.subject_moderate(
            subject=subject_get(kind.subject),
            ids=pks,
            action=action,
            actor=request.user,
            reason_code=values["reason_code"] if action == Action.REJECT else "",
            reason_text=values["reason_text"] if action == Action.REJECT else "",
            expected_status=seen,
            seen={pk: versions[pk] for pk in pks} if kind.subject == Subject.STORY else None,
        )
        done += result.done
        skipped += [(public_id, why) for public_id, why in result.skipped if public_id in found]
    notes: list[tuple[str, str]] = []
    if len(done) == 1:
        notes.append(("success", f"{DONE_VERBS[action]} {_excerpt(done[0].text)}."))
    elif done:
        notes.append(("success", f"{DONE_VERBS[action]} {len(done)} {kind.nouns}."))
    now = _STATUSES_NOW[kind.subject](public_ids=[public_id for public_id, _ in skipped]) if skipped else {}
    for public_id, why in skipped:
        excerpt = _excerpt(found[public_id][1])
        status = now.get(public_id, "")
        if why == services.CHANGED_MEANWHILE:
            rewritten = f"The pledger rewrote this {kind.noun} after you read it: {excerpt}."
            notes.append(("warning", f"{rewritten} Nothing was changed."))
        elif status and status != selection[public_id].status:
            notes.append(("warning", f"{STALE_MESSAGES[status]}: {excerpt}. Nothing was changed."))
        elif status in subject_get(kind.subject).transitions[action][0]:
            # Its status allows the move, its subject's rule does not: say the rule.
            notes.append(("warning", f"Cannot {action} {excerpt}: {why}"))
        else:
            label = kind.statuses(status).label.lower() if status else "gone"
            notes.append(("warning", f"Cannot {action} a {kind.noun} that is {label}: {excerpt}."))
    return notes, [item.public_id for item in done] + [public_id for public_id, _ in skipped]


def _is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def _bad_request(request: HttpRequest, view: QueueView, message: str) -> HttpResponse:
    if _is_htmx(request):
        html = render_to_string("moderation/_alerts.html", {"notes": [("danger", message)]}, request)
        # Only the status line changes; the cards stay as they were.
        return HttpResponse(
            html, status=400, headers={"HX-Retarget": "#mod-alerts", "HX-Reswap": "innerHTML"}
        )
    return _render_queue(request, view, errors=[message], status=400)


@organiser_required
@require_POST
def moderation_decide(request: HttpRequest) -> HttpResponse:
    view, _ = _queue_view(QueryDict(request.POST.get("return_to", "")))
    form = DecisionForm(request.POST)
    if not form.is_valid():
        first = next(iter(form.errors.values()))[0]
        return _bad_request(request, view, first)
    try:
        outcome = _decide(request, form)
    except (BadDecision, PledgeError) as exc:
        return _bad_request(request, view, str(exc))
    if not _is_htmx(request):
        levels = {"success": messages.SUCCESS, "warning": messages.WARNING}
        for level, text in outcome.notes:
            messages.add_message(request, levels[level], text)
        return HttpResponseRedirect(view.url)
    redrawn = selectors.moderation_pledges(public_ids=outcome.touched.get(Subject.PLEDGE, []))
    stories = selectors.moderation_stories_by_pledge(public_ids=outcome.touched.get(Subject.STORY, []))
    context: dict[str, Any] = {
        "notes": outcome.notes,
        "view": view,
        "counts": (
            selectors.moderation_counts(campaign=view.campaign, sector=view.sector, flag=view.flag)
            if view.campaign
            else None
        ),
        # A card stays (redrawn) while its pledge or story still belongs in this view
        # of the queue, and goes once decided.
        "kept": [_card(pledge) for pledge in redrawn if view.shows(pledge.status)],
        "kept_stories": [_story_card(story) for story in stories if view.shows(story.status)],
        "gone": [f"pledge-{pledge.public_id}" for pledge in redrawn if not view.shows(pledge.status)]
        + [f"story-{story.pledge.public_id}" for story in stories if not view.shows(story.status)],
        "reject_reasons": RejectionReason.choices,
    }
    return render(request, "moderation/_decision.html", context)


@organiser_required
@require_GET
def moderation_export(request: HttpRequest) -> HttpResponse:
    """Pledges of one campaign as CSV, emails included (organisers only), streamed."""
    slug = request.GET.get("campaign", "")
    campaign = campaign_get_by_slug(slug) if slug else campaign_get_current()
    if slug and campaign is None:
        return HttpResponse(CAMPAIGN_CHOICE_ERROR, status=400, content_type="text/plain; charset=utf-8")
    if campaign is None:
        return HttpResponse("There is no campaign to export.", status=404, content_type="text/plain")
    status = request.GET.get("status", "")
    if status and status not in Status.values:
        return HttpResponse("Choose a status from the list.", status=400, content_type="text/plain")
    try:
        filters = WallFilters.from_query(request.GET)
    except BadWallQuery as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    lines = export_csv_lines(campaign=campaign, filters=filters, status=status)
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pledges-{campaign.slug}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response


# --- A visitor's report, from a pledge's page ---------------------------------------------


def report_section(request: HttpRequest, pledge: Pledge) -> str:
    """The "Report this pledge" part of a pledge's page (registered with pledges.views)."""
    if not pledge.is_public:
        return ""
    context = {"pledge": pledge, "report_form": ReportForm()}
    return render_to_string("moderation/_report_section.html", context, request)


@require_http_methods(["POST"])
@rate_limit("report", what="reports")
def report_create(request: HttpRequest, public_id: str) -> HttpResponse:
    pledge = find_pledge(public_id)
    if pledge is None or not pledge.is_public:
        raise Http404("No pledge here.")
    form = ReportForm(request.POST)
    if not form.is_valid():
        context = {"pledge": pledge, "campaign": pledge.campaign, "report_form": form}
        return render(request, "moderation/report.html", context, status=400)
    if form.caught_in_honeypot:
        messages.success(request, REPORT_THANKS)
        return redirect("pledges:detail", public_id=pledge.public_id)
    if not request.session.session_key:
        request.session.save()
    services.pledge_report(
        pledge=pledge,
        reporter_key=keyed_hash(request.session.session_key, purpose="reporter"),
        network_key=keyed_hash(client_network(request), purpose="reporter-network"),
        reason=form.cleaned_data["reason"],
        detail=form.cleaned_data["detail"],
    )
    # The same thanks whether or not the report counted towards hiding.
    messages.success(request, REPORT_THANKS)
    pledge.refresh_from_db(fields=["status"])
    if pledge.is_public:
        return redirect("pledges:detail", public_id=pledge.public_id)
    return redirect("pages:campaign_detail", slug=pledge.campaign.slug)
