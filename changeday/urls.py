from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from changeday.api import api
from changeday.lib.ratelimit import posted_field_key, rate_limit

# Login attempts are limited per address and per account name, so guessing one
# organiser's password from many addresses is slowed as well.
login_limits = [
    rate_limit("login", what="login attempts"),
    rate_limit("login-account", key=posted_field_key("username", purpose="login"), what="login attempts"),
]


def _limited(view: Any) -> Any:
    for limit in login_limits:
        view = limit(view)
    return view


admin.site.site_header = "changeday administration"
admin.site.site_title = "changeday"

urlpatterns = [
    # Before the admin's and auth's own URLs, which would otherwise answer these.
    path("admin/login/", _limited(admin.site.login)),
    path("accounts/login/", _limited(auth_views.LoginView.as_view()), name="login"),
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
