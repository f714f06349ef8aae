from __future__ import annotations

from django.urls import path

from pages import views, views_stats, views_trust

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/widget/", views.campaign_widget, name="campaign_widget"),
    path("campaigns/<slug:slug>/stats/", views_stats.campaign_stats, name="campaign_stats"),
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
