"""Share images, served from storage (pages.share_storage) to the social networks and chat apps
that draw link previews, and to anyone who opens one.

An address names its subject and the digest of the card drawn for it (pages.share_cards). Only
the current digest of a subject anyone may see is served: an older one (the words have changed
since), a made-up one, or any pledge that is not published is a 404, decided before anything is
drawn or read from storage. What is served never changes at its address, so browsers and
shared caches keep it for a year."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.cache import get_conditional_response
from django.views.decorators.http import require_safe

from campaigns.selectors import campaign_for_visitors_or_404
from changeday.lib.ratelimit import client_key, rate_limited, too_many_requests
from organisations.selectors import organisation_get_by_slug
from pages.share_cards import (
    card_digest,
    card_for_campaign,
    card_for_organisation,
    card_for_pledge,
    card_for_wall,
)
from pages.share_images import ShareCard
from pages.share_storage import share_image_make, share_image_name, share_image_stored
from pledges.views import find_pledge

IMMUTABLE = "public, max-age=31536000, immutable"


def _image(request: HttpRequest, *, subject: str, card: ShareCard, digest: str) -> HttpResponse:
    if digest != card_digest(card):
        raise Http404("This image has changed since: the page links the current one.")
    etag = f'"{digest}"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        name = share_image_name(subject=subject, digest=digest)
        data = share_image_stored(name)
        if data is None:
            # Only drawing costs: serving a kept image is never limited.
            limit, window_seconds = settings.RATE_LIMITS["share-image"]
            wait = rate_limited(
                scope="share-image", key=client_key(request), limit=limit, window_seconds=window_seconds
            )
            if wait:
                return too_many_requests(request, retry_after=wait, what="images")
            data = share_image_make(name=name, card=card)
        response = HttpResponse(data, content_type="image/png")
    response["Cache-Control"] = IMMUTABLE
    response["ETag"] = etag
    return response


@require_safe
def share_image_pledge(request: HttpRequest, public_id: str, digest: str) -> HttpResponse:
    pledge = find_pledge(public_id)
    # Published pledges only, for their pledger too: an image is made to be passed around.
    if pledge is None or not pledge.is_public:
        raise Http404("No pledge here.")
    return _image(request, subject=f"pledge/{pledge.public_id}", card=card_for_pledge(pledge), digest=digest)


@require_safe
def share_image_campaign(request: HttpRequest, slug: str, digest: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return _image(request, subject=f"campaign/{campaign.pk}", card=card_for_campaign(campaign), digest=digest)


@require_safe
def share_image_wall(request: HttpRequest, slug: str, digest: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return _image(request, subject=f"wall/{campaign.pk}", card=card_for_wall(campaign), digest=digest)


@require_safe
def share_image_organisation(request: HttpRequest, slug: str, org_slug: str, digest: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    organisation = organisation_get_by_slug(org_slug)
    if organisation is None:
        raise Http404("No organisation here.")
    return _image(
        request,
        subject=f"organisation/{campaign.pk}-{organisation.pk}",
        card=card_for_organisation(campaign, organisation),
        digest=digest,
    )
