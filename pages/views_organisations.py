"""Organisations in a campaign: each one's page (its pledges with the wall's filters, its
totals, its follow-through), the index of those taking part, the league tables, and the
organisers' CSV of every organisation's totals.

Totals and rankings come from OrganisationTotal (organisations.selectors), never from
counting pledges; an organisation's pledges come from the wall's own keyset selector."""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Iterator
from urllib.parse import urlencode

from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_GET

from campaigns.models import Campaign, Region
from campaigns.permissions import organiser_required
from campaigns.selectors import campaign_for_visitors_or_404, campaign_get_by_slug
from changeday.lib.csvcells import spreadsheet_safe
from changeday.lib.mail import absolute_url
from changeday.lib.pagecache import shared_page
from organisations.models import (
    TOTAL_FIELDS,
    Organisation,
    OrganisationCampaign,
    OrganisationKind,
    OrganisationTotal,
)
from organisations.selectors import (
    LEAGUE_BY_STAFF,
    LEAGUE_PAGE_SIZE,
    BadLeagueQuery,
    LeagueFilters,
    LeaguePage,
    organisation_counts_in_campaign,
    organisation_get_by_slug,
    organisation_page_get,
)
from pages.organisations import league_cached, taking_part_cached
from pages.share_cards import share_meta_for_organisation
from pledges.models import Kind, Outcome, SectorSlug
from pledges.selectors import (
    OUTCOME_CHANGES,
    BadWallQuery,
    WallFilters,
    wall_generation_key,
    wall_pledges,
)
from pledges.sharing import share_for

# Shared between stateless visitors as the wall is: for a second, and only while no pledge
# has joined or left the campaign's wall since (its generation), so a new pledge shows at once.
ORGANISATION_PAGE_CACHE_SECONDS = 1
# The index and the league: shared for a second, and only under the wall's generation, as
# their counts are (pages.organisations).
LEAGUE_PAGE_CACHE_SECONDS = 1
# A page number beyond this is no page of 5,000 organisations at 50 a page.
MAX_PAGE = 10_000


PAST_THE_END = "That page number is not one of these pages: start again from the first."


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "") or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        raise BadLeagueQuery(PAST_THE_END)
    return int(raw)


def _pages(filters: LeagueFilters, page: int, result: LeaguePage) -> dict[str, object]:
    query = filters.as_query()
    last = max(1, -(-result.count // LEAGUE_PAGE_SIZE))
    return {
        "page": page,
        "last_page": last,
        "previous_url": "?" + urlencode({**query, "page": page - 1}) if page > 1 else "",
        "next_url": "?" + urlencode({**query, "page": page + 1}) if page < last else "",
        "offset": (page - 1) * LEAGUE_PAGE_SIZE,
    }


def _filter_choices() -> dict[str, object]:
    return {"kinds": OrganisationKind.choices, "regions": Region.choices}


# --- An organisation's page ----------------------------------------------------------------


def organisation_detail(request: HttpRequest, slug: str, org_slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return shared_page(
        request,
        scope="organisation",
        seconds=ORGANISATION_PAGE_CACHE_SECONDS,
        render=lambda: _organisation_detail(request, campaign, org_slug),
        generation_key=wall_generation_key(campaign.pk),
    )


def _organisation_detail(request: HttpRequest, campaign: Campaign, org_slug: str) -> HttpResponse:
    organisation = organisation_get_by_slug(org_slug)
    if organisation is None:
        raise Http404("No organisation here.")
    counts = organisation_counts_in_campaign(campaign_id=campaign.pk, organisation_id=organisation.pk)
    path = reverse("pages:organisation", kwargs={"slug": campaign.slug, "org_slug": organisation.slug})
    context: dict[str, object] = {
        "campaign": campaign,
        "organisation": organisation,
        "page_settings": organisation_page_get(campaign_id=campaign.pk, organisation_id=organisation.pk),
        "counts": counts,
        "sectors": [(slug, SectorSlug(slug).label, n) for slug, n in counts.by_sector.items()],
        "share_url": absolute_url(path),
        "share": share_for(
            campaign=campaign,
            url=absolute_url(path),
            title=f"{organisation.name}'s pledges for {campaign.name}",
            text=(
                f"{organisation.name} is pledging for {campaign.name}. "
                "Add yours: big or small, it takes a minute."
            ),
        ),
        "share_meta": share_meta_for_organisation(campaign, organisation),
        "sector_choices": SectorSlug.choices,
        "regions": Region.choices,
        "kinds": [(Kind.PERSONAL, "Personal"), (Kind.ORGANISATIONAL, "Organisational")],
        "outcomes": [(OUTCOME_CHANGES, "Changes made (done or started)"), *Outcome.choices],
    }
    try:
        # The page is the organisation's already: a typed organisation filter means nothing here.
        filters = dataclasses.replace(WallFilters.from_query(request.GET), organisation="")
        page = wall_pledges(
            campaign=campaign, filters=filters, cursor=request.GET.get("cursor", ""), org_id=organisation.pk
        )
    except BadWallQuery as exc:
        context.update(filters=WallFilters(), error=str(exc))
        return render(request, "pages/organisation.html", context, status=400)
    next_url = ""
    if page.next_cursor:
        next_url = "?" + urlencode({**filters.as_query(), "cursor": page.next_cursor})
    cards = render_to_string(
        "pledges/_wall_cards.html", {"pledges": page.pledges, "next_url": next_url, "filters": filters}
    )
    context.update(filters=filters, cards=mark_safe(cards))  # noqa: S308 - our own template, escaped when rendered
    return render(request, "pages/organisation.html", context)


# --- The index of organisations taking part, and the league tables --------------------------


def organisation_index(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return shared_page(
        request,
        scope="organisations",
        seconds=LEAGUE_PAGE_CACHE_SECONDS,
        render=lambda: _listing(request, campaign, league=False),
        generation_key=wall_generation_key(campaign.pk),
    )


def organisation_league(request: HttpRequest, slug: str) -> HttpResponse:
    campaign = campaign_for_visitors_or_404(slug)
    return shared_page(
        request,
        scope="league",
        seconds=LEAGUE_PAGE_CACHE_SECONDS,
        render=lambda: _listing(request, campaign, league=True),
        generation_key=wall_generation_key(campaign.pk),
    )


def _listing(request: HttpRequest, campaign: Campaign, *, league: bool) -> HttpResponse:
    template = "pages/organisation_league.html" if league else "pages/organisation_index.html"
    context: dict[str, object] = {"campaign": campaign, **_filter_choices()}
    try:
        filters = LeagueFilters.from_query(request.GET)
        if not league and filters.per == LEAGUE_BY_STAFF:
            filters = dataclasses.replace(filters, per="")
        page = _page_number(request)
    except BadLeagueQuery as exc:
        context.update(filters=LeagueFilters(), error=str(exc))
        return render(request, template, context, status=400)
    read = league_cached if league else taking_part_cached
    result = read(
        campaign=campaign, filters=filters, offset=(page - 1) * LEAGUE_PAGE_SIZE, limit=LEAGUE_PAGE_SIZE
    )
    if page > 1 and not result.rows:
        context.update(filters=filters, error=PAST_THE_END)
        return render(request, template, context, status=400)
    context.update(
        filters=filters,
        result=result,
        by_staff=filters.per == LEAGUE_BY_STAFF,
        **_pages(filters, page, result),
    )
    return render(request, template, context)


# --- The organisers' CSV --------------------------------------------------------------------

EXPORT_COLUMNS = (
    "code",
    "name",
    "slug",
    "kind",
    "region",
    "postcode",
    "headcount",
    "domains",
    *TOTAL_FIELDS,
    "per_100_staff",
    "welcome",
    "contact_name",
)


class _Echo:
    def write(self, value: str) -> str:
        return value


def organisation_export_lines(*, campaign: Campaign) -> Iterator[str]:
    """Every organisation in the directory with its counters in the campaign (zeros where none
    pledged), a line at a time: the counters are one GROUP BY over OrganisationTotal held as a
    dict (one entry per organisation taking part), the directory read in chunks as it goes.
    Organisations' names, welcome lines and contacts are typed by people: formula-safe."""
    sums = {
        row["organisation_id"]: row
        for row in OrganisationTotal.objects.filter(campaign=campaign)
        .values("organisation_id")
        .annotate(**{field: Sum(field) for field in TOTAL_FIELDS})
        .order_by()
    }
    pages = {
        page.organisation_id: page
        for page in OrganisationCampaign.objects.filter(campaign=campaign).only(
            "organisation_id", "welcome", "contact_name"
        )
    }
    writer = csv.writer(_Echo())
    yield writer.writerow(EXPORT_COLUMNS)
    directory = Organisation.objects.order_by("name", "pk").prefetch_related("domains")
    for organisation in directory.iterator(chunk_size=2000):
        counts = sums.get(organisation.pk, {})
        pledges = counts.get("pledges", 0)
        page = pages.get(organisation.pk)
        per_100 = round(100 * pledges / organisation.headcount, 1) if organisation.headcount else ""
        cells = [
            organisation.code,
            organisation.name,
            organisation.slug,
            organisation.kind,
            organisation.region,
            organisation.postcode,
            organisation.headcount if organisation.headcount is not None else "",
            " ".join(domain.domain for domain in organisation.domains.all()),
            *(counts.get(field, 0) for field in TOTAL_FIELDS),
            per_100,
            page.welcome if page else "",
            page.contact_name if page else "",
        ]
        yield writer.writerow([spreadsheet_safe(cell) for cell in cells])


@organiser_required
@require_GET
def organisation_export(request: HttpRequest, slug: str) -> HttpResponse:
    """Organisers only (as moderation's pledge export): organisations and their totals, streamed."""
    # The row itself, not the visitors' memo: organisers' pages read what is there now.
    campaign = campaign_get_by_slug(slug)
    if campaign is None:
        raise Http404("No campaign here.")
    response = StreamingHttpResponse(
        organisation_export_lines(campaign=campaign), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="organisations-{campaign.slug}.csv"'
    response["Cache-Control"] = "private, no-store"
    return response
