from __future__ import annotations

from django.urls import path

from pages import views, views_organisations, views_posters, views_stats, views_trust

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
