from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from crispy_forms.utils import render_crispy_form
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ImproperlyConfigured
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.middleware.csrf import get_token
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods

from campaigns.models import Campaign, Phase
from campaigns.selectors import campaign_for_visitors_or_404
from changeday.lib.mail import absolute_url
from changeday.lib.pagecache import current_get, current_set, generation_read, shared_page
from changeday.lib.ratelimit import (
    from_trusted_network,
    network_and_posted_email_key,
    rate_limit,
)
from changeday.lib.tokens import ExpiredToken, InvalidToken, read_token
from pledges import services
from pledges.feeds import feed_links
from pledges.forms import AddressChangeForm, PledgeForm, PledgePrefill, pledge_prefill_read
from pledges.models import Kind, Outcome, Pledge, Region, SectorSlug, Status
from pledges.selectors import (
    OUTCOME_CHANGES,
    BadWallQuery,
    WallFilters,
    campaign_totals_display,
    pledge_published_story,
    wall_generation_key,
    wall_pledges,
)
from pledges.sharing import pledge_by, share_for

# Public ids of the pledges this browser confirmed, so their owner can see a
# pledge still waiting for moderation at its permalink while others get a 404.
OWN_PLEDGES_SESSION_KEY = "own_pledges"


# Permalinks (the URL converter in urls.py) and signed links' values alike, so
# whatever a token carries never reaches a query unchecked (PostgreSQL refuses
# a null character with an error, not an empty result).
PUBLIC_ID_PATTERN = "[0-9a-z]{1,16}"
_PUBLIC_ID = re.compile(PUBLIC_ID_PATTERN)


def find_pledge(public_id: str) -> Pledge | None:
    if not _PUBLIC_ID.fullmatch(public_id):
        return None
    return Pledge.objects.select_related("campaign", "org").filter(public_id=public_id).first()


# A blank pledge form differs between visitors in two values only, and rendering it through crispy
# was nearly all of the form page's time (bench/README.md). Each process renders it once per
# campaign address (and sector a poster's link ticks) with stand-ins, and each visit fills in its
# own CSRF and submission tokens, and the organisation and source tag a poster's link carries.
_CSRF_STAND_IN = "csrf-stand-in-for-the-visitors-own-token"
_SUBMISSION_STAND_IN = "00000000-0000-4000-8000-000000000000"
_SOURCE_STAND_IN = "cd-prefill-source-stand-in"
_ORG_SLUG_STAND_IN = "cd-prefill-org-slug-stand-in"
_ORG_NAME_STAND_IN = "cd-prefill-org-name-stand-in"
_PREFILL_STAND_INS = (_SOURCE_STAND_IN, _ORG_SLUG_STAND_IN, _ORG_NAME_STAND_IN)
_blank_forms: dict[tuple[int, str, str], str] = {}


def _as_value(text: str) -> str:
    return f' value="{text}"'


def pledge_form_urls(campaign: Campaign) -> dict[str, str]:
    """Where the pledge form sends itself, its "Find your organisation" button, its type-ahead and
    the privacy notice it links beside the email field."""
    return {
        "action": reverse("pledges:create", kwargs={"slug": campaign.slug}),
        "find_action": reverse("pledges:find-organisation", kwargs={"slug": campaign.slug}),
        "suggest_url": reverse("pledges:organisation-suggest"),
        # Named, not imported: the notice is a page of a higher layer.
        "privacy_url": reverse("pages:campaign_privacy", kwargs={"slug": campaign.slug}),
    }


def _blank_form_html(
    request: HttpRequest, campaign: Campaign, urls: dict[str, str], prefill: PledgePrefill
) -> str:
    # Sectors are a handful, so each gets its own copy; organisations are thousands, so
    # theirs is filled in like the tokens.
    key = (campaign.pk, urls["action"], prefill.sector)
    html = _blank_forms.get(key)
    if html is None:
        initial = {
            "submission_token": _SUBMISSION_STAND_IN,
            "source": _SOURCE_STAND_IN,
            "org": _ORG_SLUG_STAND_IN,
            "organisation": _ORG_NAME_STAND_IN,
            "sectors": [prefill.sector] if prefill.sector else [],
        }
        form = PledgeForm(initial=initial, **urls)
        html = render_crispy_form(form, context={"csrf_token": _CSRF_STAND_IN})
        stand_ins = (_CSRF_STAND_IN, _SUBMISSION_STAND_IN, *(_as_value(v) for v in _PREFILL_STAND_INS))
        if any(html.count(stand_in) != 1 for stand_in in stand_ins):
            raise ImproperlyConfigured("The pledge form must show each token and prefilled value once.")
        # Only campaigns that exist and known sectors get here: a few entries per campaign.
        _blank_forms[key] = html
    organisation = prefill.organisation
    filled = html.replace(_CSRF_STAND_IN, get_token(request)).replace(_SUBMISSION_STAND_IN, str(uuid.uuid4()))
    values = (
        prefill.source,
        organisation.slug if organisation else "",
        organisation.name if organisation else "",
    )
    for stand_in, value in zip(_PREFILL_STAND_INS, values, strict=True):
        # As Django draws an input: no value attribute when there is none, escaped when there is.
        filled = filled.replace(_as_value(stand_in), _as_value(escape(value)) if value else "")
    return mark_safe(filled)  # noqa: S308 - our own form's rendering; the values filled in are escaped


@require_http_methods(["GET", "POST"])
# The limit per person first: a person refused for repeating themselves does not
# use up the ceiling their colleagues behind the same address share.
@rate_limit("pledge-email", key=network_and_posted_email_key("email"), what="pledges")
@rate_limit("pledge", exempt=from_trusted_network, what="pledges")
def pledge_create(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    phase = campaign.phase()
    if phase is not Phase.OPEN:
        status = 200 if request.method == "GET" else 403
        return render(request, "pledges/closed.html", {"campaign": campaign, "phase": phase}, status=status)

    urls = pledge_form_urls(campaign)
    if request.method == "GET":
        prefill = pledge_prefill_read(request.GET)
        context = {"campaign": campaign, "form_html": _blank_form_html(request, campaign, urls, prefill)}
        return render(request, "pledges/create.html", context)

    form = PledgeForm(request.POST, **urls)
    if not form.is_valid():
        return render(request, "pledges/create.html", {"campaign": campaign, "form": form}, status=400)
    if form.caught_in_honeypot:
        # A robot: the answer a person gets, and nothing stored or sent.
        return redirect("pledges:sent", slug=campaign.slug)
    try:
        result = services.pledge_create(campaign=campaign, **form.cleaned_data)
    except services.CampaignNotOpen:
        return render(
            request,
            "pledges/closed.html",
            {"campaign": campaign, "phase": campaign.phase()},
            status=403,
        )
    except services.PledgeError as exc:
        form.add_error(None, str(exc))
        return render(request, "pledges/create.html", {"campaign": campaign, "form": form}, status=400)
    _sent_remember(request, campaign=campaign, email=form.cleaned_data["email"], result=result)
    # The same page whether or not this promise was already stored: a page must
    # never tell anyone whether an address has pledged.
    return redirect("pledges:sent", slug=campaign.slug)


# What the page after pledging knows, in this browser's session only: the address the
# pledger typed (shown back to them, never on a public page) and, only when this very
# request stored the pledge, its public id, so "change it" and "send it again" act on a
# pledge this browser made. A repeat of a promise already stored (perhaps by someone else
# typing their address) shows the same page and forms, and changes nothing.
SENT_SESSION_KEY = "sent_pledge"


def _sent_remember(
    request: HttpRequest, *, campaign: Campaign, email: str, result: services.PledgeCreateResult
) -> None:
    earlier = request.session.get(SENT_SESSION_KEY) or {}
    owned = result.created or (
        earlier.get("public_id") == result.pledge.public_id and earlier.get("campaign") == campaign.pk
    )
    request.session[SENT_SESSION_KEY] = {
        "campaign": campaign.pk,
        "email": email.strip(),
        "public_id": result.pledge.public_id if owned else "",
    }


def _sent_pledge(request: HttpRequest, campaign: Campaign) -> tuple[dict[str, str] | None, Pledge | None]:
    sent = request.session.get(SENT_SESSION_KEY)
    if not isinstance(sent, dict) or sent.get("campaign") != campaign.pk:
        return None, None
    pledge = find_pledge(sent.get("public_id") or "")
    if pledge is not None and pledge.campaign_id != campaign.pk:
        pledge = None
    return sent, pledge


def pledge_sent(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    sent, pledge = _sent_pledge(request, campaign)
    context = {
        "campaign": campaign,
        "sent_email": sent["email"] if sent else "",
        "confirmed": pledge is not None and pledge.status != Status.UNCONFIRMED,
        "address_form": AddressChangeForm(),
    }
    response = render(request, "pledges/sent.html", context)
    # The page may show the pledger's address: never kept by a shared cache.
    response["Cache-Control"] = "private, no-store"
    return response


@require_http_methods(["POST"])
@rate_limit("pledge-email", key=network_and_posted_email_key("email"), what="emails")
@rate_limit("pledge", exempt=from_trusted_network, what="emails")
def pledge_sent_address(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Wrong address? Change it" on the page after pledging."""
    campaign = campaign_for_visitors_or_404(slug)
    sent, pledge = _sent_pledge(request, campaign)
    if sent is None:
        return render(request, "pledges/link_invalid.html", status=400)
    form = AddressChangeForm(request.POST)
    if not form.is_valid():
        context = {"campaign": campaign, "sent_email": sent["email"], "address_form": form}
        return render(request, "pledges/sent.html", context, status=400)
    email = form.cleaned_data["email"]
    if pledge is not None:
        try:
            services.pledge_email_change(pledge=pledge, email=email)
        except services.PledgeError as exc:
            form.add_error("email", str(exc))
            context = {"campaign": campaign, "sent_email": sent["email"], "address_form": form}
            return render(request, "pledges/sent.html", context, status=400)
    request.session[SENT_SESSION_KEY] = {**sent, "email": email.strip()}
    messages.info(request, "Thank you: we have sent a new link to the corrected address.")
    return redirect("pledges:sent", slug=campaign.slug)


@require_http_methods(["POST"])
@rate_limit("pledge", exempt=from_trusted_network, what="emails")
def pledge_sent_again(request: HttpRequest, slug: str) -> HttpResponse:
    """ "Send it again" on the page after pledging."""
    campaign = campaign_for_visitors_or_404(slug)
    sent, pledge = _sent_pledge(request, campaign)
    if sent is None:
        return render(request, "pledges/link_invalid.html", status=400)
    sent_again = True
    if pledge is not None:
        try:
            sent_again = services.pledge_confirmation_resend(pledge=pledge)
        except services.PledgeError as exc:
            messages.info(request, str(exc))
            return redirect("pledges:sent", slug=campaign.slug)
    if sent_again:
        messages.info(request, "We have sent the link again. It may take a few minutes to arrive.")
    else:
        messages.info(
            request,
            "We have already sent as many emails for this pledge as we can. Look in your spam or junk "
            "folder, or make your pledge again.",
        )
    return redirect("pledges:sent", slug=campaign.slug)


def _pledge_from_token(request: HttpRequest, token: str) -> Pledge | HttpResponse:
    try:
        value = read_token(
            purpose=services.CONFIRM_PURPOSE,
            token=token,
            max_age=settings.PLEDGE_CONFIRMATION_MAX_AGE,
        )
    except ExpiredToken:
        return _expired_link(request, token)
    except InvalidToken:
        return render(request, "pledges/link_invalid.html", status=400)
    public_id, mark = services.pledge_confirmation_token_read(value)
    pledge = find_pledge(public_id)
    if pledge is None:
        return render(request, "pledges/link_invalid.html", status=404)
    if not services.pledge_confirmation_token_fits(pledge=pledge, mark=mark):
        # Sent to an address the pledger has since corrected: that address's owner
        # must not be the one to confirm.
        return render(request, "pledges/link_invalid.html", status=400)
    return pledge


def _expired_link(request: HttpRequest, token: str) -> HttpResponse:
    # An old email is how many people find their pledge again: if it was
    # confirmed in time, take them to it (without the owner's view).
    value = read_token(purpose=services.CONFIRM_PURPOSE, token=token, max_age=None)
    public_id, _mark = services.pledge_confirmation_token_read(value)
    pledge = Pledge.objects.filter(public_id=public_id).exclude(status=Status.UNCONFIRMED).first()
    if pledge is not None:
        return HttpResponseRedirect(reverse("pledges:detail", kwargs={"public_id": pledge.public_id}))
    return render(request, "pledges/link_expired.html", status=410)


@require_http_methods(["GET", "POST"])
def pledge_confirm(request: HttpRequest, token: str) -> HttpResponse:
    found = _pledge_from_token(request, token)
    if isinstance(found, HttpResponse):
        return found
    pledge = found
    # GET only shows a button: mail scanners follow links, and must not be the
    # ones who confirm. The POST is safe to repeat.
    if request.method == "GET" and pledge.status == Status.UNCONFIRMED:
        return render(request, "pledges/confirm.html", {"pledge": pledge, "campaign": pledge.campaign})
    if request.method == "POST":
        pledge = services.pledge_confirm(pledge=pledge)
    own = request.session.get(OWN_PLEDGES_SESSION_KEY, [])
    if pledge.public_id not in own:
        request.session[OWN_PLEDGES_SESSION_KEY] = [*own[-49:], pledge.public_id]
    return HttpResponseRedirect(reverse("pledges:detail", kwargs={"public_id": pledge.public_id}))


# A few pledges from the same sector under each permalink, from the wall's index and shared
# between visitors until the wall changes (wall_changed) or for this long at most.
MORE_PLEDGES_CACHE_SECONDS = 60
MORE_PLEDGES_COUNT = 3


def _more_pledges(*, campaign: Campaign, sector: str, exclude: str) -> list[dict[str, str]]:
    """Recent published pledges of `sector`, newest first, without the one being read.
    Only what the wall shows is cached: never an address."""
    key = f"more-pledges:v1:{campaign.pk}:{campaign.created_at.timestamp()}:{sector}"
    generation_key = wall_generation_key(campaign.pk)
    found = current_get(key, generation_key)
    if found is None:
        generation = generation_read(generation_key)
        page = wall_pledges(
            campaign=campaign, filters=WallFilters(sector=sector), limit=MORE_PLEDGES_COUNT + 1
        )
        found = [
            {
                "public_id": pledge.public_id,
                "text": pledge.text,
                "public_name": pledge.public_name,
                "role": pledge.role,
            }
            for pledge in page.pledges
        ]
        current_set(key, generation, found, MORE_PLEDGES_CACHE_SECONDS)
    assert isinstance(found, list)
    return [item for item in found if item["public_id"] != exclude][:MORE_PLEDGES_COUNT]


# Parts of a pledge's page that higher apps add (moderation's "Report this pledge"),
# registered at start-up (AppConfig.ready): each renders its HTML for the page.
_page_sections: list[Callable[[HttpRequest, Pledge], str]] = []


def pledge_page_section_add(section: Callable[[HttpRequest, Pledge], str]) -> None:
    if section not in _page_sections:
        _page_sections.append(section)


# Link previews (Open Graph and Twitter card tags with a share image, templates/_share_meta.html)
# of a pledge's page and of the wall: pages, above this app, provides them at start-up. Each
# returns the tags' values for a published pledge or a campaign, or None for none.
_share_meta: dict[str, Callable[[Any], object | None]] = {}


def pledge_share_meta_provide(provider: Callable[[Pledge], object | None]) -> None:
    _share_meta["pledge"] = provider


def wall_share_meta_provide(provider: Callable[[Campaign], object | None]) -> None:
    _share_meta["wall"] = provider


def _share_meta_for(page: str, subject: Pledge | Campaign) -> object | None:
    provider = _share_meta.get(page)
    return provider(subject) if provider is not None else None


def pledge_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    pledge = find_pledge(public_id)
    if pledge is None:
        raise Http404("No pledge here.")
    is_owner = pledge.public_id in request.session.get(OWN_PLEDGES_SESSION_KEY, [])
    if not pledge.is_public and not is_owner:
        raise Http404("No pledge here.")
    permalink = absolute_url(reverse("pledges:detail", kwargs={"public_id": pledge.public_id}))
    campaign = pledge.campaign
    by = pledge_by(display_name=pledge.display_name, is_anonymous=pledge.is_anonymous, role=pledge.role)
    share_text = (
        f"I pledged for {campaign.name}: I pledge to {pledge.text[:180]}"
        if is_owner
        else f"{by} for {campaign.name}: I pledge to {pledge.text[:180]}"
    )
    sector = pledge.sector_slugs[0] if pledge.sector_slugs else ""
    context = {
        "pledge": pledge,
        "campaign": campaign,
        "page_title": f"{by} \N{EM DASH} {campaign.name}",
        "pledge_by": by,
        "permalink": permalink,
        "share": share_for(
            campaign=campaign, url=permalink, title=f"{by} for {campaign.name}", text=share_text
        ),
        "is_owner": is_owner,
        "phase": campaign.phase(),
        **campaign_totals_display(campaign=campaign),
        "more_sector": SectorSlug(sector).label if sector else "",
        "more_sector_slug": sector,
        "more_pledges": _more_pledges(campaign=campaign, sector=sector, exclude=pledge.public_id)
        if pledge.is_public
        else [],
        # Only a published story of a public pledge: never a private, pending, rejected or hidden one.
        "story": pledge_published_story(pledge=pledge),
        # A visitor may report the pledge; its pledger gets sharing instead.
        "sections": [] if is_owner else [section(request, pledge) for section in _page_sections],
        "share_meta": _share_meta_for("pledge", pledge) if pledge.is_public else None,
    }
    return render(request, "pledges/detail.html", context)


@require_http_methods(["GET", "POST"])
def pledge_withdraw(request: HttpRequest, token: str) -> HttpResponse:
    try:
        # No expiry: a pledger may take their pledge back whenever they like.
        public_id = read_token(purpose=services.WITHDRAW_PURPOSE, token=token, max_age=None)
    except InvalidToken:
        return render(request, "pledges/link_invalid.html", status=400)
    pledge = find_pledge(public_id)
    if pledge is None:
        return render(request, "pledges/link_invalid.html", status=404)
    # GET only shows the button, so a mail scanner cannot withdraw anything.
    if request.method == "POST":
        pledge = services.pledge_withdraw(pledge=pledge)
    context = {"pledge": pledge, "campaign": pledge.campaign}
    return render(request, "pledges/withdraw.html", context)


# The cards of one wall page are shared by every visitor for as long as the
# totals beside them (2 s): at peak most people load the same few pages, and
# rendering 24 cards was most of a page's cost (bench/README.md).
WALL_CARDS_CACHE_SECONDS = 2


def _wall_cards(*, campaign: Campaign, filters: WallFilters, cursor: str) -> str:
    """The rendered cards and next-page link; raises BadWallQuery for a broken cursor."""
    # created_at in the key, as for the totals: a test database may reuse an id.
    identity = f"{campaign.pk}:{campaign.created_at.timestamp()}:{sorted(filters.as_query().items())}"
    key = "wall-cards:v1:" + hashlib.sha256(f"{identity}:{cursor}".encode()).hexdigest()
    # Stale as soon as a pledge joins or leaves the wall (wall_changed).
    generation_key = wall_generation_key(campaign.pk)
    cards = current_get(key, generation_key)
    if cards is None:
        generation = generation_read(generation_key)
        page = wall_pledges(campaign=campaign, filters=filters, cursor=cursor)
        next_url = ""
        if page.next_cursor:
            next_url = "?" + urlencode({**filters.as_query(), "cursor": page.next_cursor})
        context = {"pledges": page.pledges, "next_url": next_url, "filters": filters}
        cards = render_to_string("pledges/_wall_cards.html", context)
        current_set(key, generation, cards, WALL_CARDS_CACHE_SECONDS)
    return mark_safe(cards)  # noqa: S308 - our own template's output, escaped when rendered


# A visitor with no session and no pending message gets a page that depends on
# its address alone: the whole page is shared for a second (the totals on it
# stay within the 2 s the counters promise), and a hidden pledge leaves it at
# once. Organisers get the shared cards.
WALL_PAGE_CACHE_SECONDS = 1


def pledge_wall(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return shared_page(
        request,
        scope="wall",
        seconds=WALL_PAGE_CACHE_SECONDS,
        render=lambda: _pledge_wall(request, campaign),
        generation_key=wall_generation_key(campaign.pk),
    )


def _pledge_wall(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    context: dict[str, object] = {
        "campaign": campaign,
        "sector_choices": SectorSlug.choices,
        "regions": Region.choices,
        "kinds": [(Kind.PERSONAL, "Personal"), (Kind.ORGANISATIONAL, "Organisational")],
        "outcomes": [(OUTCOME_CHANGES, "Changes made (done or started)"), *Outcome.choices],
        **campaign_totals_display(campaign=campaign),
        "share_meta": _share_meta_for("wall", campaign),
    }
    try:
        filters = WallFilters.from_query(request.GET)
        cards = _wall_cards(campaign=campaign, filters=filters, cursor=request.GET.get("cursor", ""))
    except BadWallQuery as exc:
        context.update(filters=WallFilters(), error=str(exc), feeds=feed_links(campaign=campaign))
        return render(request, "pledges/wall.html", context, status=400)
    context.update(filters=filters, cards=cards, feeds=feed_links(campaign=campaign, sector=filters.sector))
    return render(request, "pledges/wall.html", context)
