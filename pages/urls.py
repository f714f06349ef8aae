from __future__ import annotations

from django.urls import path, re_path

from pages import views, views_organisations, views_posters, views_share, views_stats, views_trust
from pages.share_cards import DIGEST_LENGTH
from pledges.views import PUBLIC_ID_PATTERN

# Share images' addresses: only a well-formed digest reaches a view, anything else is a 404 here.
_DIGEST = rf"(?P<digest>[0-9a-f]{{{DIGEST_LENGTH}}})"
_SLUG = r"[-a-zA-Z0-9_]+"

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/widget/", views.campaign_widget, name="campaign_widget"),
    path("campaigns/<slug:slug>/stats/", views_stats.campaign_stats, name="campaign_stats"),
    path("campaigns/<slug:slug>/posters/", views_posters.posters, name="posters"),
    *[
        path(
            f"campaigns/<slug:slug>/posters/poster.{fmt}",
            views_posters.poster_download,
            {"fmt": fmt},
            name=f"poster_{fmt}",
        )
        for fmt in views_posters.CONTENT_TYPES
    ],
    path("campaigns/<slug:slug>/posters/cards.pdf", views_posters.cards_download, name="pledge_cards"),
    path(
        "campaigns/<slug:slug>/organisations/",
        views_organisations.organisation_index,
        name="organisations",
    ),
    # Before the organisation's page, whose slug "league" would otherwise be.
    path(
        "campaigns/<slug:slug>/organisations/league/",
        views_organisations.organisation_league,
        name="organisation_league",
    ),
    path(
        "campaigns/<slug:slug>/organisations/export.csv",
        views_organisations.organisation_export,
        name="organisation_export",
    ),
    path(
        "campaigns/<slug:slug>/organisations/<slug:org_slug>/",
        views_organisations.organisation_detail,
        name="organisation",
    ),
    re_path(
        rf"^campaigns/(?P<slug>{_SLUG})/share-{_DIGEST}\.png$",
        views_share.share_image_campaign,
        name="share_image_campaign",
    ),
    re_path(
        rf"^campaigns/(?P<slug>{_SLUG})/wall/share-{_DIGEST}\.png$",
        views_share.share_image_wall,
        name="share_image_wall",
    ),
    re_path(
        rf"^campaigns/(?P<slug>{_SLUG})/organisations/(?P<org_slug>{_SLUG})/share-{_DIGEST}\.png$",
        views_share.share_image_organisation,
        name="share_image_organisation",
    ),
    re_path(
        rf"^pledges/(?P<public_id>{PUBLIC_ID_PATTERN})/share-{_DIGEST}\.png$",
        views_share.share_image_pledge,
        name="share_image_pledge",
    ),
    *[
        path(f"{page}/", views_trust.site_trust_page, {"page": page}, name=page)
        for page in views_trust.TRUST_PAGES
    ],
    *[
        path(
            f"campaigns/<slug:slug>/{page}/",
            views_trust.campaign_trust_page,
            {"page": page},
            name=f"campaign_{page}",
        )
        for page in views_trust.TRUST_PAGES
    ],
]
