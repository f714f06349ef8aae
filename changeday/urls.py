from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "changeday administration"
admin.site.site_title = "changeday"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("", include("campaigns.urls")),
    path("", include("pledges.urls")),
]
