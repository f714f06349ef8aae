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
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from campaigns.models import Campaign
from campaigns.permissions import organiser_required
from campaigns.selectors import campaign_get_by_slug, campaign_get_current
from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import client_network, rate_limit
from moderation import selectors, services
from moderation.export import export_csv_lines
from moderation.forms import CAMPAIGN_CHOICE_ERROR, STALE_SELECTION, DecisionForm, QueueFilterForm, ReportForm
from moderation.models import ORGANISER_ACTIONS, Action, ModerationEvent, RejectionReason, ReportReason
from moderation.subjects import PLEDGES
from pledges.models import Pledge, Status
from pledges.screening import FlagReason
from pledges.selectors import BadWallQuery, WallFilters, outbox_failed_count
from pledges.services import PledgeError
from pledges.views import find_pledge

REPORT_THANKS = "Thank you. An organiser will look at this pledge."
# The page shows 50; a bulk post naming far more than a page is not from it.
MAX_SELECTION = 200
ITEM_RE = re.compile(r"^(?P<public_id>[0-9a-z]{1,16})(?::(?P<status>[a-z]{1,16}))?$")

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


def _card(pledge: Pledge) -> Card:
    """What one card shows, from the prefetched relations (no further queries)."""
    allowed = [action for action in ORGANISER_ACTIONS if pledge.status in PLEDGES.transitions[action][0]]
    reports = pledge.reports.all()
    reasons = Counter(report.reason for report in reports)
    # One line per different text, first sent first: a flood of one text stays one line.
    details = Counter(report.detail for report in reports if report.detail)
    return Card(
        pledge=pledge,
        actions=[
            (action, Action(action).label, SHORTCUTS[action]) for action in allowed if action != Action.REJECT
        ],
        can_reject=Action.REJECT in allowed,
        flags=[_flag_label(flag) for flag in pledge.flags or []],
        reports=[(ReportReason(reason).label, n) for reason, n in sorted(reasons.items())],
        report_total=len(reports),
        report_details=list(details.items()),
        history=[HistoryLine(who=_actor_name(e), event=e) for e in pledge.moderation_events.all()],
    )


@dataclass(frozen=True)
class QueueView:
    campaign: Campaign | None
    status: str
    sector: str
    flag: str

    @property
    def query(self) -> str:
        """The filters as a query string, to come back to the same queue."""
        params = QueryDict(mutable=True)
        if self.campaign is not None:
            params["campaign"] = self.campaign.slug
        for name in ("status", "sector", "flag"):
            if getattr(self, name):
                params[name] = getattr(self, name)
        return params.urlencode()

    @property
    def url(self) -> str:
        query = self.query
        return reverse("moderation:queue") + (f"?{query}" if query else "")

    def shows(self, status: str) -> bool:
        return status == self.status if self.status else status in selectors.QUEUE_STATES


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
    )
    return view, form


def _render_queue(
    request: HttpRequest, view: QueueView, *, errors: list[str], status: int = 200
) -> HttpResponse:
    if view.campaign is None:
        cards: list[Card] = []
        counts = selectors.ModerationCounts(hidden=0, flagged=0, waiting=0)
        failed_emails = 0
    else:
        pledges = selectors.moderation_queue(
            campaign=view.campaign, status=view.status, sector=view.sector, flag=view.flag
        )
        cards = [_card(pledge) for pledge in pledges]
        counts = selectors.moderation_counts(campaign=view.campaign, sector=view.sector, flag=view.flag)
        failed_emails = outbox_failed_count(campaign=view.campaign)
    # The selects show what the queue really shows (a bad value falls back).
    fields = QueueFilterForm.base_fields
    campaign_choices = [(campaign.slug, campaign.name) for campaign in fields["campaign"].queryset.all()]
    filters = [
        ("campaign", "Campaign", campaign_choices, view.campaign.slug if view.campaign else ""),
        ("status", "Status", fields["status"].choices, view.status),
        ("sector", "Sector", fields["sector"].choices, view.sector),
        ("flag", "Screening flag", fields["flag"].choices, view.flag),
    ]
    context = {
        "view": view,
        "filters": filters,
        "cards": cards,
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


def _selection(request: HttpRequest, *, all_on_page: bool, expected_status: str) -> dict[str, str]:
    """{public id: status the organiser saw} from the posted form."""
    values = request.POST.getlist("page_item" if all_on_page else "pledge")
    if not values:
        raise BadDecision("Select at least one pledge first.")
    if len(values) > MAX_SELECTION:
        raise BadDecision(f"Decide on at most {MAX_SELECTION} pledges at once.")
    selection: dict[str, str] = {}
    for value in values:
        match = ITEM_RE.match(value)
        seen = (match and match["status"]) or expected_status
        if match is None or seen not in Status.values:
            raise BadDecision(STALE_SELECTION)
        selection[match["public_id"]] = seen
    return selection


@dataclass
class Outcome:
    notes: list[tuple[str, str]]  # (message level tag, text)
    touched: list[str]  # public ids whose cards must be redrawn


def _excerpt(text: str) -> str:
    return f"“{text[:60]}{'…' if len(text) > 60 else ''}”"


def _decide(request: HttpRequest, form: DecisionForm) -> Outcome:
    values = form.cleaned_data
    action = values["action"]
    selection = _selection(
        request, all_on_page=values["all_on_page"], expected_status=values["expected_status"]
    )
    found = selectors.pledge_ids_and_texts(public_ids=list(selection))
    if not found:
        raise BadDecision("Those pledges no longer exist. Reload the queue.")
    notes: list[tuple[str, str]] = []
    missing = len(selection) - len(found)
    if missing:
        notes.append(("warning", f"{missing} of the selected pledges no longer exist."))
    # One decision per status seen, so each pledge is checked against what its
    # card showed: a card another organiser changed meanwhile is skipped.
    by_seen: dict[str, list[int]] = {}
    for public_id, (pk, _) in found.items():
        by_seen.setdefault(selection[public_id], []).append(pk)
    done: list[Pledge] = []
    skipped: list[str] = []
    for seen, pks in sorted(by_seen.items()):
        result = services.pledge_moderate(
            pledge_ids=pks,
            action=action,
            actor=request.user,
            reason_code=values["reason_code"] if action == Action.REJECT else "",
            reason_text=values["reason_text"] if action == Action.REJECT else "",
            expected_status=seen,
        )
        done += result.done
        skipped += [public_id for public_id, _ in result.skipped if public_id in found]
    if len(done) == 1:
        notes.insert(0, ("success", f"{DONE_VERBS[action]} {_excerpt(done[0].text)}."))
    elif done:
        notes.insert(0, ("success", f"{DONE_VERBS[action]} {len(done)} pledges."))
    if skipped:
        now = selectors.pledge_statuses(public_ids=skipped)
        for public_id in skipped:
            excerpt = _excerpt(found[public_id][1])
            status = now.get(public_id, "")
            if status and status != selection[public_id]:
                notes.append(("warning", f"{STALE_MESSAGES[status]}: {excerpt}. Nothing was changed."))
            else:
                label = Status(status).label.lower() if status else "gone"
                notes.append(("warning", f"Cannot {action} a pledge that is {label}: {excerpt}."))
    return Outcome(notes=notes, touched=[p.public_id for p in done] + skipped)


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
    redrawn = selectors.moderation_pledges(public_ids=outcome.touched)
    context: dict[str, Any] = {
        "notes": outcome.notes,
        "view": view,
        "counts": (
            selectors.moderation_counts(campaign=view.campaign, sector=view.sector, flag=view.flag)
            if view.campaign
            else None
        ),
        # A card stays (redrawn) while its pledge still belongs in this view of
        # the queue, and goes once decided.
        "kept": [_card(pledge) for pledge in redrawn if view.shows(pledge.status)],
        "gone": [pledge.public_id for pledge in redrawn if not view.shows(pledge.status)],
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
