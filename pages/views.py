from __future__ import annotations

from csp.decorators import csp_replace
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.http import require_http_methods

from campaigns.models import Campaign
from campaigns.selectors import campaign_for_visitors_or_404, campaign_get_current
from campaigns.services import account_password_reset_request
from changeday.lib.emailaddr import canonical_email
from changeday.lib.hashing import keyed_hash
from changeday.lib.mail import absolute_url
from changeday.lib.pagecache import shared_page
from changeday.lib.ratelimit import rate_limit, rate_limited
from pages.share_cards import share_meta_for_campaign
from pledges.feeds import feed_links
from pledges.models import SectorSlug
from pledges.selectors import WallFilters, campaign_totals_cached, campaign_totals_display, wall_pledges
from pledges.sharing import share_for
from reminders.forms import ReminderSignupForm

RECENT_PLEDGES = 3


def _render_campaign(request: HttpRequest, campaign: Campaign) -> HttpResponse:
    context = {
        "campaign": campaign,
        "phase": campaign.phase(),
        "days_left": campaign.days_left(),
        **campaign_totals_display(campaign=campaign),
        # A few of the newest, so a visitor sees people like them pledging. The page is
        # shared for a second, so a hidden pledge leaves it as quickly as it leaves the wall.
        "recent": wall_pledges(campaign=campaign, filters=WallFilters(), limit=RECENT_PLEDGES).pledges,
        "site_url": settings.SITE_URL,
        # The "remind me" box is written by hand; the form gives it its honeypot.
        "remind_form": ReminderSignupForm(),
        "share": share_for(
            campaign=campaign,
            url=absolute_url(reverse("pages:campaign_detail", kwargs={"slug": campaign.slug})),
            title=campaign.name,
            text=f"I'm pledging for {campaign.name}. Make yours: big or small, it takes a minute.",
        ),
        "share_meta": share_meta_for_campaign(campaign),
        "feeds": feed_links(campaign=campaign),
    }
    return render(request, "pages/detail.html", context)


# The campaign page is where most peak traffic lands (people reloading to watch
# the total): shared between visitors for a second, as fresh as the totals.
CAMPAIGN_PAGE_CACHE_SECONDS = 1


def _home(request: HttpRequest) -> HttpResponse:
    campaign = campaign_get_current()
    if campaign is None:
        return render(request, "pages/none.html")
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
    return render(request, "pages/widget.html", context)


@require_http_methods(["GET", "POST"])
@rate_limit("password-reset", what="password reset requests")
def password_reset(request: HttpRequest) -> HttpResponse:
    """Ask for a password-reset email. The answer is the same redirect and page
    for every address, whether it has an account, whether that account is over
    its limit: the page must not tell anyone who is an organiser. Nothing slow
    happens here either way (the token is made and the email sent by a worker)."""
    if request.method == "GET":
        return render(request, "registration/password_reset_form.html", {"form": PasswordResetForm()})
    form = PasswordResetForm(request.POST)
    if not form.is_valid():
        return render(request, "registration/password_reset_form.html", {"form": form}, status=400)
    email = form.cleaned_data["email"]
    limit, window_seconds = settings.RATE_LIMITS["password-reset-account"]
    # Counted for every address typed, with or without an account.
    held = rate_limited(
        scope="password-reset-account",
        key=keyed_hash(canonical_email(email), purpose="password-reset-account"),
        limit=limit,
        window_seconds=window_seconds,
    )
    if not held:
        account_password_reset_request(email=email)
    return redirect("password_reset_done")
