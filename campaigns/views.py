from __future__ import annotations

from csp.decorators import csp_replace
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_exempt

from campaigns.models import Campaign
from campaigns.selectors import campaign_for_visitors_or_404, campaign_get_current
from changeday.lib.pagecache import shared_page
from pledges.models import SectorSlug
from pledges.selectors import campaign_totals_cached, campaign_totals_display
from reminders.forms import ReminderSignupForm


def _render_campaign(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    context = {
        "campaign": campaign,
        "phase": campaign.phase(),
        "days_left": campaign.days_left(),
        **campaign_totals_display(campaign=campaign),
        "site_url": settings.SITE_URL,
        # The "remind me" box is written by hand; the form gives it its honeypot.
        "remind_form": ReminderSignupForm(),
    }
    return render(request, "campaigns/detail.html", context)


# The campaign page is where most peak traffic lands (people reloading to watch
# the total): shared between visitors for a second, as fresh as the totals.
CAMPAIGN_PAGE_CACHE_SECONDS = 1


def _home(request: HttpRequest) -> HttpResponse:
    campaign = campaign_get_current()
    if campaign is None:
        return render(request, "campaigns/none.html")
    return _render_campaign(request, campaign)


def home(request: HttpRequest) -> HttpResponse:
    return shared_page(
        request, scope="campaign", seconds=CAMPAIGN_PAGE_CACHE_SECONDS, render=lambda: _home(request)
    )


def campaign_detail(request: HttpRequest, slug: str) -> HttpResponse:
    return shared_page(
        request,
        scope="campaign",
        seconds=CAMPAIGN_PAGE_CACHE_SECONDS,
        render=lambda: _render_campaign(request, campaign_for_visitors_or_404(slug)),
    )


# Partner sites frame this page: it alone lifts frame-ancestors 'none' and X-Frame-Options.
@xframe_options_exempt
@csp_replace({"frame-ancestors": settings.WIDGET_FRAME_ANCESTORS})
@cache_control(public=True, max_age=10, stale_while_revalidate=60)
def campaign_widget(request: HttpRequest, slug: str) -> HttpResponse:
    """The live total for partner sites to embed in an iframe: tiny and cacheable."""
    campaign = campaign_for_visitors_or_404(slug)
    sector = request.GET.get("sector", "")
    if sector and sector not in SectorSlug.values:
        return HttpResponse("Unknown sector.", status=400, content_type="text/plain; charset=utf-8")
    totals = campaign_totals_cached(campaign=campaign)
    count = totals.by_sector[sector] if sector else totals.total
    context = {
        "campaign": campaign,
        "count": count,
        "sector_label": SectorSlug(sector).label if sector else "",
        "site_url": settings.SITE_URL,
    }
    return render(request, "campaigns/widget.html", context)
