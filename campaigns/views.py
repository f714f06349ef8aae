from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from campaigns.models import Campaign
from campaigns.selectors import campaign_get_current
from pledges.models import SectorSlug
from pledges.selectors import campaign_totals


def _render_campaign(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    totals = campaign_totals(campaign=campaign)
    context = {
        "campaign": campaign,
        "phase": campaign.phase(),
        "days_left": campaign.days_left(),
        "totals": totals,
        "progress": min(100, round(100 * totals.total / campaign.target)),
        "sectors": [(slug, SectorSlug(slug).label, count) for slug, count in totals.by_sector.items()],
    }
    return render(request, "campaigns/detail.html", context)


def home(request: HttpRequest) -> HttpResponse:
    campaign = campaign_get_current()
    if campaign is None:
        return render(request, "campaigns/none.html")
    return _render_campaign(request, campaign)


def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return _render_campaign(request, get_object_or_404(Campaign, slug=slug))
