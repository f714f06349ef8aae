from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from changeday.api import api
from changeday.lib.loginlimits import login_limited
from pages.views import password_reset

admin.site.site_header = "changeday administration"
admin.site.site_title = "changeday"

urlpatterns = [
    # Before the admin's and auth's own URLs, which would otherwise answer these.
    # Both logins count failed sign-ins in the same windows.
    path("admin/login/", login_limited(admin.site.login)),
    path("accounts/login/", login_limited(auth_views.LoginView.as_view()), name="login"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    # Requests are limited and answered alike for every address; the email goes
    # through the outbox, its link built from SITE_URL (never the Host header).
    path("accounts/password_reset/", password_reset, name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("moderation.urls")),
    path("", include("pages.urls")),
    path("", include("pledges.urls")),
    path("", include("reminders.urls")),
]

if settings.BENCH_ENDPOINTS:
    # Only the benchmark harness sets CHANGEDAY_BENCH_ENDPOINTS (bench/run.py).
    urlpatterns.insert(0, path("bench/", include("bench.urls")))
