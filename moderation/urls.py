"""The organisers' queue at /moderation/ and their paper pledges page (every view there is
wrapped in organiser_required), and a visitor's report from a pledge's page."""

from __future__ import annotations

from django.urls import path

from moderation import paper_views, views

# Registers the public_id converter the report's path uses, whichever urls load first.
from pledges import urls as _pledge_urls  # noqa: F401

app_name = "moderation"

urlpatterns = [
    path("moderation/", views.moderation_queue, name="queue"),
    path("moderation/decide/", views.moderation_decide, name="decide"),
    path("moderation/news/", views.moderation_news, name="news"),
    path("moderation/dashboard/", views.moderation_dashboard, name="dashboard"),
    path("moderation/dashboard/day/", views.moderation_dashboard_day, name="dashboard-day"),
    path("moderation/export.csv", views.moderation_export, name="export"),
    path("campaigns/<slug:slug>/paper/", paper_views.paper_entry, name="paper"),
    path("campaigns/<slug:slug>/paper/file/", paper_views.paper_import, name="paper-import"),
    path("campaigns/<slug:slug>/paper/template.csv", paper_views.paper_template, name="paper-template"),
    path("campaigns/<slug:slug>/paper/withdraw/", paper_views.paper_withdraw, name="paper-withdraw"),
    path("pledges/<public_id:public_id>/report/", views.report_create, name="report"),
]
