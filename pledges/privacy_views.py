"""'Your data': a pledger asks for a signed link by email, then sees, downloads
or deletes every pledge made from their address (pledges.privacy)."""

from __future__ import annotations

import functools
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from changeday.lib.emailaddr import canonical_email
from changeday.lib.hashing import keyed_hash
from changeday.lib.ratelimit import rate_limit, rate_limited
from changeday.lib.tokens import ExpiredToken, InvalidToken, read_token
from pledges import privacy, services
from pledges.forms import DataRequestForm
from pledges.models import Pledge
from pledges.privacy import pledger_data_export, pledger_pledges

# One mailbox gets at most this many links an hour, however many people ask for it.
DATA_EMAILS_PER_ADDRESS_PER_HOUR = 3


def _link_hours() -> int:
    return int(settings.PLEDGER_DATA_LINK_MAX_AGE.total_seconds() // 3600)


@require_http_methods(["GET", "POST"])
@rate_limit("data-request", what="requests for data")
def data_request(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        return render(
            request, "pledges/data_request.html", {"form": DataRequestForm(), "link_hours": _link_hours()}
        )
    form = DataRequestForm(request.POST)
    if not form.is_valid():
        return render(
            request, "pledges/data_request.html", {"form": form, "link_hours": _link_hours()}, status=400
        )
    if form.caught_in_honeypot:
        return redirect("pledges:data-sent")
    email = form.cleaned_data["email"]
    # Counted before anyone knows whether the address pledged, and the page
    # below is the same when the limit is reached: it reveals nothing either.
    if not rate_limited(
        scope="data-email",
        key=keyed_hash(canonical_email(email), purpose="data-email"),
        limit=DATA_EMAILS_PER_ADDRESS_PER_HOUR,
        window_seconds=3600,
    ):
        privacy.pledger_data_request(email=email)
    return redirect("pledges:data-sent")


def data_sent(request: HttpRequest) -> HttpResponse:
    return render(request, "pledges/data_sent.html", {"link_hours": _link_hours()})


def _link_problem(request: HttpRequest, problem: str, status: int) -> HttpResponse:
    return render(
        request, "pledges/data_link.html", {"problem": problem, "link_hours": _link_hours()}, status=status
    )


def _email_from_token(request: HttpRequest, token: str) -> str | HttpResponse:
    """The address a genuine, unexpired 'your data' link stands for."""
    try:
        public_id = read_token(
            purpose=services.DATA_PURPOSE, token=token, max_age=settings.PLEDGER_DATA_LINK_MAX_AGE
        )
    except ExpiredToken:
        return _link_problem(request, "expired", 410)
    except InvalidToken:
        return _link_problem(request, "invalid", 400)
    anchor = Pledge.objects.filter(public_id=public_id).only("email").first()
    if anchor is None:
        return _link_problem(request, "gone", 410)
    return anchor.email


def _for_link_holder(view: Callable[[HttpRequest, str, str], HttpResponse]) -> Callable[..., HttpResponse]:
    """The view, given the address a genuine 'your data' link stands for; a bad
    link gets its own page."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, token: str) -> HttpResponse:
        email = _email_from_token(request, token)
        if isinstance(email, HttpResponse):
            return email
        return view(request, token, email)

    return wrapper


@never_cache
@require_http_methods(["GET"])
@_for_link_holder
def data_detail(request: HttpRequest, token: str, email: str) -> HttpResponse:
    # A GET only shows: a mail scanner opening the link changes nothing.
    pledges = pledger_pledges(email=email)
    stories = privacy.pledger_stories(pledges=pledges)
    for pledge in pledges:
        pledge.own_story = stories.get(pledge.pk)  # type: ignore[attr-defined]
    context = {"pledges": pledges, "token": token}
    return render(request, "pledges/data_detail.html", context)


@never_cache
@require_http_methods(["GET"])
@_for_link_holder
def data_download(request: HttpRequest, token: str, email: str) -> HttpResponse:
    response = JsonResponse(
        pledger_data_export(pledges=pledger_pledges(email=email)), json_dumps_params={"indent": 2}
    )
    response["Content-Disposition"] = 'attachment; filename="changeday-my-pledges.json"'
    return response


@never_cache
@require_http_methods(["POST"])
@_for_link_holder
def data_erase(request: HttpRequest, token: str, email: str) -> HttpResponse:
    erased = privacy.pledger_data_erase(email=email)
    return render(request, "pledges/data_erased.html", {"erased": erased})
