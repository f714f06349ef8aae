"""The follow-through's page: the signed link in a "did you do it?" email opens it,
shows the pledge and asks how it went (pledges.outcomes records the answer).

A GET only shows: mail scanners open links, and must never be the ones answering.
The link carries the pledge's public id and works until the campaign's outcomes close;
it has no age of its own, since the same link lets the pledger change their answer."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import client_network, from_trusted_network, rate_limit
from changeday.lib.tokens import InvalidToken, read_token
from pledges.models import STORY_MAX_LENGTH, Pledge, Story, StoryStatus
from pledges.outcome_forms import OUTCOME_HINTS, OutcomeForm
from pledges.outcomes import ANSWERABLE_STATES, OUTCOME_PURPOSE, OutcomeError, pledge_outcome_record
from pledges.views import find_pledge


def _network_and_link_key(request: HttpRequest) -> str:
    """One pledger's limit: their link from their network. Colleagues behind one trust's
    address each answer through their own link."""
    return keyed_hash(f"{client_network(request)} {request.path}", purpose="outcome-link")


def _refused(request: HttpRequest, *, reason: str, status: int, pledge: Pledge | None = None) -> HttpResponse:
    context = {"reason": reason, "pledge": pledge, "campaign": pledge.campaign if pledge else None}
    return render(request, "pledges/outcome_closed.html", context, status=status)


def _pledge_for_link(request: HttpRequest, token: str) -> Pledge | HttpResponse:
    try:
        public_id = read_token(purpose=OUTCOME_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        # Tampered with, cut short, or made for another link (a withdraw or confirm link).
        return render(request, "pledges/link_invalid.html", status=400)
    pledge = find_pledge(public_id)
    if pledge is None:
        # Erased at the pledger's request, or purged.
        return _refused(request, reason="gone", status=404)
    if pledge.status not in ANSWERABLE_STATES:
        return _refused(request, reason=pledge.status, status=410, pledge=pledge)
    if not pledge.campaign.outcomes_open():
        return _refused(request, reason="closed", status=410, pledge=pledge)
    return pledge


def _page(
    request: HttpRequest, *, pledge: Pledge, form: OutcomeForm, story: Story | None, status: int = 200
) -> HttpResponse:
    context = {
        "pledge": pledge,
        "campaign": pledge.campaign,
        "form": form,
        "hints": OUTCOME_HINTS,
        "story_max": STORY_MAX_LENGTH,
        # The story as stored, whatever the form holds: the page says what became of it.
        "story": story,
    }
    return render(request, "pledges/outcome.html", context, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
# Per link first: one person repeating themselves does not use up the ceiling that
# colleagues behind the same address share.
@rate_limit("outcome-link", key=_network_and_link_key, what="answers")
@rate_limit("outcome", exempt=from_trusted_network, what="answers")
def pledge_outcome(request: HttpRequest, token: str) -> HttpResponse:
    found = _pledge_for_link(request, token)
    if isinstance(found, HttpResponse):
        return found
    pledge = found
    story = Story.objects.filter(pledge=pledge).first()
    if request.method == "GET":
        initial = {
            "outcome": pledge.outcome or None,
            "story": story.text if story else "",
            "story_public": story.public if story else False,
        }
        return _page(request, pledge=pledge, form=OutcomeForm(initial=initial), story=story)
    form = OutcomeForm(request.POST)
    if not form.is_valid():
        return _page(request, pledge=pledge, form=form, story=story, status=400)
    try:
        recorded = pledge_outcome_record(
            pledge=pledge,
            outcome=form.cleaned_data["outcome"],
            story_text=form.cleaned_data["story"],
            story_public=form.cleaned_data["story_public"],
        )
    except OutcomeError as exc:
        # The campaign closed or the pledge was withdrawn between the page and the answer.
        form.add_error(None, str(exc))
        return _page(request, pledge=pledge, form=form, story=story, status=409)
    context = {
        "pledge": recorded.pledge,
        "campaign": recorded.pledge.campaign,
        "story": recorded.story,
        "StoryStatus": StoryStatus,
    }
    return render(request, "pledges/outcome_thanks.html", context)
