"""The organisers' moderation queue at /moderation/.

Every page works as plain forms that POST and redirect back (PRG). With htmx
the same forms post in the background and the view answers with a partial:
the status line, out-of-band updates of the counts and of each card decided.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign
from campaigns.permissions import organiser_required
from campaigns.selectors import SLUG_RE, campaign_get_by_slug, campaign_get_current
from pledges import selectors, services
from pledges.models import (
    ORGANISER_ACTIONS,
    TRANSITIONS,
    Action,
    ModerationEvent,
    Pledge,
    RejectionReason,
    ReportReason,
    SectorSlug,
    Status,
    sector_slugs_for,
)
from pledges.screening import FlagReason

# Forms live here rather than in pledges/forms.py: they are the moderation
# page's own query-string and button parsing, used by nothing else.

ACTION_CHOICE_ERROR = "Choose publish, reject, hide or restore."
STALE_SELECTION = "That selection is out of date. Reload the queue and try again."
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


CAMPAIGN_CHOICE_ERROR = "That campaign does not exist. Choose one from the list."


class CampaignSlugField(forms.ModelChoiceField):
    """A campaign by slug; anything that cannot be a slug (a null character)
    is refused before the lookup, which would otherwise be a database error."""

    def to_python(self, value: Any) -> Campaign | None:
        if value in self.empty_values:
            return None
        if not SLUG_RE.fullmatch(str(value)):
            raise forms.ValidationError(self.error_messages["invalid_choice"], code="invalid_choice")
        return super().to_python(value)


class QueueFilterForm(forms.Form):
    campaign = CampaignSlugField(
        queryset=Campaign.objects.order_by("-opens_at"),
        to_field_name="slug",
        required=False,
        empty_label=None,
        error_messages={"invalid_choice": CAMPAIGN_CHOICE_ERROR},
    )
    status = forms.ChoiceField(
        choices=[("", "Needs a decision")] + [(s, Status(s).label) for s in selectors.REVIEW_STATES],
        required=False,
        error_messages={"invalid_choice": "Choose a status from the list."},
    )
    sector = forms.ChoiceField(
        choices=[("", "All sectors"), *SectorSlug.choices],
        required=False,
        error_messages={"invalid_choice": "Choose a sector from the list."},
    )
    flag = forms.ChoiceField(
        choices=[("", "Any screening result"), *FlagReason.choices],
        required=False,
        label="Screening flag",
        error_messages={"invalid_choice": "Choose a screening flag from the list."},
    )


class DecisionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[(action, Action(action).label) for action in ORGANISER_ACTIONS],
        error_messages={"required": ACTION_CHOICE_ERROR, "invalid_choice": ACTION_CHOICE_ERROR},
    )
    reason_code = forms.ChoiceField(
        choices=[("", "Choose a reason"), *RejectionReason.choices],
        required=False,
        error_messages={"invalid_choice": "Choose a reason for rejecting from the list."},
    )
    reason_text = forms.CharField(
        required=False,
        max_length=500,
        error_messages={"max_length": "Keep the reason to 500 characters or fewer."},
    )
    expected_status = forms.ChoiceField(
        choices=Status.choices, required=False, error_messages={"invalid_choice": STALE_SELECTION}
    )
    all_on_page = forms.BooleanField(required=False)


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
    allowed = [action for action in ORGANISER_ACTIONS if pledge.status in TRANSITIONS[action][0]]
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
        failed_emails = selectors.outbox_failed_count(campaign=view.campaign)
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
    found = {
        public_id: (pk, text)
        for public_id, pk, text in Pledge.objects.filter(public_id__in=list(selection)).values_list(
            "public_id", "pk", "text"
        )
    }
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
        now = dict(Pledge.objects.filter(public_id__in=skipped).values_list("public_id", "status"))
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
    except (BadDecision, services.PledgeError) as exc:
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


# Spreadsheets run a cell that starts with one of these as a formula; a pledge
# text must never become one (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: object) -> object:
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


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
        filters = selectors.WallFilters.from_query(request.GET)
    except selectors.BadWallQuery as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain; charset=utf-8")
    rows = selectors.pledges_for_export(campaign=campaign, filters=filters, status=status)
    writer = csv.writer(_Echo())
    columns = [c for c in selectors.EXPORT_COLUMNS if c != "sector_mask"]
    mask_at = selectors.EXPORT_COLUMNS.index("sector_mask")

    def lines() -> Iterator[str]:
        yield writer.writerow([*columns, "sectors"])
        for row in rows:
            sectors = " ".join(sector_slugs_for(row[mask_at]))
            cells = [_csv_cell(value) for i, value in enumerate(row) if i != mask_at]
            yield writer.writerow([*cells, sectors])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="pledges-{campaign.slug}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
