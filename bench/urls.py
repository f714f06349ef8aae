from __future__ import annotations

from django.urls import path

from bench import views

app_name = "bench"

urlpatterns = [
    path("json/", views.bare_json, name="json"),
    path("insert/", views.bare_insert, name="insert"),
]
