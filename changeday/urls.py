from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from changeday.api import api

admin.site.site_header = "changeday administration"
admin.site.site_title = "changeday"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Reset links are built from SITE_URL, never from the request's Host header.
    path(
        "accounts/password_reset/",
        auth_views.PasswordResetView.as_view(
            html_email_template_name="registration/password_reset_email_body.html",
            extra_email_context={"site_url": settings.SITE_URL},
        ),
        name="password_reset",
    ),
    path("accounts/", include("django.contrib.auth.urls")),
    path("moderation/", include("pledges.moderation_urls")),
    path("", include("campaigns.urls")),
    path("", include("pledges.urls")),
    path("", include("reminders.urls")),
]

if settings.BENCH_ENDPOINTS:
    # Only the benchmark harness sets CHANGEDAY_BENCH_ENDPOINTS (bench/run.py).
    urlpatterns.insert(0, path("bench/", include("bench.urls")))
