from __future__ import annotations

from django.urls import path

from campaigns import views, views_stats

app_name = "campaigns"

urlpatterns = [
    path("", views.home, name="home"),
    path("campaigns/<slug:slug>/", views.campaign_detail, name="detail"),
    path("campaigns/<slug:slug>/widget/", views.campaign_widget, name="widget"),
    path("campaigns/<slug:slug>/stats/", views_stats.campaign_stats, name="stats"),
]
