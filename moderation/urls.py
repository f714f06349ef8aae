"""/moderation/: organisers only (every view is wrapped in organiser_required)."""

from __future__ import annotations

from django.urls import path

from pledges import moderation_views

app_name = "moderation"

urlpatterns = [
    path("", moderation_views.moderation_queue, name="queue"),
    path("decide/", moderation_views.moderation_decide, name="decide"),
    path("export.csv", moderation_views.moderation_export, name="export"),
]
