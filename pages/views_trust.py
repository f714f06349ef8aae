"""Pages people trust: who runs a campaign, its privacy notice, accessibility statement and
note on cookies. Each campaign may write its own (plain text, escaped, line breaks kept);
without, and outside any campaign, the site-wide words in templates/pages/trust/ stand."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from campaigns.models import Campaign
from campaigns.selectors import campaign_for_visitors_or_404, campaign_get_current

# The page's address segment: its heading and the campaign field that may replace the default.
TRUST_PAGES: dict[str, tuple[str, str]] = {
    "privacy": ("Privacy notice", "privacy_notice"),
    "accessibility": ("Accessibility statement", "accessibility_statement"),
    "cookies": ("Cookies", "cookies_note"),
}


def _render(request: HttpRequest, page: str, campaign: Campaign | None) -> HttpResponse:
    if page not in TRUST_PAGES:
        raise Http404("No such page.")
    heading, field = TRUST_PAGES[page]
    context = {
        "page": page,
        "heading": heading,
        "campaign": campaign,
        "own_text": getattr(campaign, field) if campaign is not None else "",
        # Outside a campaign, the site-wide notice points to the current one's own.
        "current": campaign_get_current() if campaign is None else None,
        "default_template": f"pages/trust/{page}.html",
    }
    return render(request, "pages/trust.html", context)


def site_trust_page(request: HttpRequest, page: str) -> HttpResponse:
    return _render(request, page, None)


def campaign_trust_page(request: HttpRequest, slug: str, page: str) -> HttpResponse:
    return _render(request, page, campaign_for_visitors_or_404(slug))
