"""A stand-in for the outcome page (URL name pledges:outcome), so follow-through emails can
link to it before the page itself is merged. Replace it with the real view: delete this file
and point the `outcome` route in pledges/urls.py at it.

GET only, and it changes nothing, as the real page's GET must not either (mail scanners)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET

from changeday.lib.tokens import InvalidToken, read_token
from pledges.outcomes import OUTCOME_PURPOSE


@require_GET
def pledge_outcome(request: HttpRequest, token: str) -> HttpResponse:
    try:
        read_token(purpose=OUTCOME_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        return HttpResponse("This link does not work.", status=400, content_type="text/plain")
    return HttpResponse(
        "Thank you. Telling us how your pledge went opens here soon.", content_type="text/plain"
    )
