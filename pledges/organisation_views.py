"""Choosing an organisation on the pledge form: the type-ahead's answers (JSON) and
"Find your organisation", the same choice without JavaScript."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from django import forms
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse, JsonResponse, QueryDict
from django.shortcuts import render
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET, require_http_methods

from campaigns.models import Phase
from campaigns.selectors import campaign_for_visitors_or_404
from changeday.lib.ratelimit import from_trusted_network, rate_limit
from organisations.selectors import SEARCH_MAX, organisation_search
from pledges.forms import PledgeForm
from pledges.views import pledge_form_urls

# The directory changes when organisers import it, a few times a campaign: an answer may
# be five minutes old, and a flood of the same few letters reads the directory once.
SUGGEST_CACHE_SECONDS = 300


def _suggestions(query: str) -> list[dict[str, str]]:
    key = "org-suggest:v1:" + hashlib.sha256(" ".join(query.lower().split()).encode()).hexdigest()
    found = cache.get(key)
    if found is None:
        found = [{"name": name, "slug": slug} for name, slug in organisation_search(query=query)]
        cache.set(key, found, SUGGEST_CACHE_SECONDS)
    return found


@require_GET
# Every keystroke asks, so the ceiling per network is high (a trust's staff share one
# address); its gateway may be trusted, as for pledges.
@rate_limit("organisation-search", methods=("GET",), exempt=from_trusted_network, what="searches")
def organisation_suggest(request: HttpRequest) -> HttpResponse:
    """Up to ten organisations whose name (or a word of it) starts with `q`: names and
    slugs only, for static/js/changeday.js's combobox."""
    query = request.GET.get("q", "")
    if len(query) > SEARCH_MAX or "\x00" in query:
        return JsonResponse({"detail": f"Search with {SEARCH_MAX} characters or fewer."}, status=400)
    response = JsonResponse({"results": _suggestions(query) if query.strip() else []})
    patch_cache_control(response, public=True, max_age=SUGGEST_CACHE_SECONDS)
    return response


def _as_typed(data: QueryDict) -> dict[str, Any]:
    """The pledge form's values as sent, to draw it again unchanged (and unjudged: no
    errors yet, the person has not finished)."""
    initial: dict[str, Any] = {}
    for name, field in PledgeForm.base_fields.items():
        if name == "org":
            continue
        if isinstance(field, forms.MultipleChoiceField):
            initial[name] = data.getlist(name)
        elif isinstance(field, forms.BooleanField):
            initial[name] = bool(data.get(name))
        elif name in data:
            # Absent (a link to the search): the field's own default, as on a blank form.
            # Through the field's bound_data, as a bound form draws it (a source tag the
            # site did not make is not drawn back).
            initial[name] = field.bound_data(data.get(name), None)
    try:
        # The same token as the form had: a double submission after the search is still one pledge.
        initial["submission_token"] = str(uuid.UUID(data.get("submission_token", "")))
    except ValueError:
        initial["submission_token"] = str(uuid.uuid4())
    return initial


@require_http_methods(["GET", "POST"])
@rate_limit("organisation-search", methods=("GET", "POST"), exempt=from_trusted_network, what="searches")
def pledge_find_organisation(request: HttpRequest, slug: str) -> HttpResponse:
    """The pledge form again, as filled in, with the organisations matching what was typed
    in its box as radio buttons. The form's "Find your organisation" button posts here
    (formaction), so nothing typed is lost and nothing is stored; a GET with
    ?organisation= does the same for a blank form."""
    campaign = campaign_for_visitors_or_404(slug)
    phase = campaign.phase()
    if phase is not Phase.OPEN:
        status = 200 if request.method == "GET" else 403
        return render(request, "pledges/closed.html", {"campaign": campaign, "phase": phase}, status=status)
    data = request.POST if request.method == "POST" else request.GET
    query = " ".join(data.get("organisation", "").split())
    if len(query) > SEARCH_MAX or "\x00" in query:
        query = ""
    matches = organisation_search(query=query) if query else None
    form = PledgeForm(
        initial=_as_typed(data), org_matches=matches, org_query=query, **pledge_form_urls(campaign)
    )
    return render(request, "pledges/create.html", {"campaign": campaign, "form": form})
