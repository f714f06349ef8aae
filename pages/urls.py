from __future__ import annotations

from django.urls import path

from pages import views, views_stats

app_name = "pages"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="campaign_detail"),
    path("campaigns/<slug:slug>/widget/", views.campaign_widget, name="campaign_widget"),
    path("campaigns/<slug:slug>/stats/", views_stats.campaign_stats, name="campaign_stats"),
]
