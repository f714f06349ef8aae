"""Organisers' posters and pledge cards: a page listing them, and their downloads."""

from __future__ import annotations

from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse

from campaigns.models import Campaign
from campaigns.permissions import organiser_required
from organisations.selectors import (
    ORGANISATION_SLUG_RE,
    LeagueFilters,
    organisation_by_slug,
    organisation_search,
    organisations_taking_part,
)
from pages.forms import OrganisationPosterSearchForm, PledgeCardsForm
from pages.posters import (
    CARDS_PER_SHEET,
    PosterSubject,
    card_reference,
    cards_document,
    pledge_form_url,
    poster_document,
    poster_url,
)
from pages.printing import document_pdf, document_svg
from pledges.models import SectorSlug
from pledges.sources import PLEDGE_CARD

# The taking-part organisations offered in the page's list; the search finds the rest.
TAKING_PART_CHOICES = 500

CONTENT_TYPES = {"pdf": "application/pdf", "svg": "image/svg+xml"}


def _posters_page(
    request: HttpRequest,
    campaign: Campaign,
    *,
    error: str = "",
    status: int = 200,
    cards_form: PledgeCardsForm | None = None,
) -> HttpResponse:
    search = OrganisationPosterSearchForm(request.GET if "q" in request.GET else None)
    matches = None
    if search.is_bound and search.is_valid() and search.cleaned_data["q"].strip():
        matches = organisation_search(query=search.cleaned_data["q"])
    elif search.is_bound and not search.is_valid():
        status = max(status, 400)
    taking_part = organisations_taking_part(
        campaign=campaign, filters=LeagueFilters(), limit=TAKING_PART_CHOICES
    )
    cards_form = cards_form or PledgeCardsForm()
    context = {
        "campaign": campaign,
        "error": error,
        "campaign_poster_url": poster_url(campaign, PosterSubject()),
        "sectors": [
            (slug, label, poster_url(campaign, PosterSubject(sector=slug)))
            for slug, label in SectorSlug.choices
        ],
        "search": search,
        "matches": matches,
        "taking_part": taking_part,
        "taking_part_limit": TAKING_PART_CHOICES,
        "cards_form": cards_form,
        "card_example": card_reference(campaign, 1),
        "card_url": pledge_form_url(campaign, source=PLEDGE_CARD),
        "stats_url": reverse("pages:campaign_stats", kwargs={"slug": campaign.slug}),
    }
    response = render(request, "pages/posters.html", context, status=status)
    response["Cache-Control"] = "private, no-store"
    return response


@organiser_required
def posters(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    return _posters_page(request, campaign)


def _download(body: bytes | str, *, fmt: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=CONTENT_TYPES[fmt])
    # Slugs and sector names only: nothing to quote.
    response["Content-Disposition"] = f'attachment; filename="{filename}.{fmt}"'
    response["Cache-Control"] = "private, no-store"
    return response


@dataclass(frozen=True)
class _NoPoster:
    message: str
    status: int


def _poster_subject(request: HttpRequest) -> PosterSubject | _NoPoster:
    """Whom the poster asked for speaks to, or why there is no such poster."""
    sector = request.GET.get("sector", "")
    org = request.GET.get("org", "")
    if sector and org:
        return _NoPoster("A poster is for a sector or for an organisation, not both: choose one.", 400)
    if sector:
        if sector not in SectorSlug.values:
            return _NoPoster(
                "There is no poster for that sector. "
                "Choose NHS, Social care, Housing or Patient or carer below.",
                404,
            )
        return PosterSubject(sector=sector)
    if org:
        organisation = organisation_by_slug(slug=org) if ORGANISATION_SLUG_RE.fullmatch(org) else None
        if organisation is None:
            return _NoPoster("That organisation is not in our directory. Find it with the search below.", 404)
        return PosterSubject(organisation=organisation)
    return PosterSubject()


@organiser_required
def poster_download(request: HttpRequest, slug: str, fmt: str) -> HttpResponse:
    """The campaign's poster; `?sector=` for a sector's, `?org=` for an organisation's."""
    campaign = get_object_or_404(Campaign, slug=slug)
    subject = _poster_subject(request)
    if isinstance(subject, _NoPoster):
        # The page again, saying what was wrong (never echoing what was asked for).
        return _posters_page(request, campaign, error=subject.message, status=subject.status)
    document = poster_document(campaign, subject)
    body = document_pdf(document) if fmt == "pdf" else document_svg(document)
    return _download(body, fmt=fmt, filename=f"{campaign.slug}-{subject.file_part}")


@organiser_required
def cards_download(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = get_object_or_404(Campaign, slug=slug)
    form = PledgeCardsForm(request.GET)
    if not form.is_valid():
        return _posters_page(
            request, campaign, error="Check the numbers for the pledge cards.", status=400, cards_form=form
        )
    first, sheets = form.cleaned_data["first"], form.cleaned_data["sheets"]
    last = first + sheets * CARDS_PER_SHEET - 1
    document = cards_document(campaign, first=first, sheets=sheets)
    filename = f"{campaign.slug}-cards-{card_reference(campaign, first)}-to-{last:04d}"
    return _download(document_pdf(document), fmt="pdf", filename=filename.lower())
