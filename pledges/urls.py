from __future__ import annotations

from django.urls import path

from pledges import views

app_name = "pledges"

urlpatterns = [
    path("campaigns/<slug:slug>/pledge/", views.pledge_create, name="create"),
    path("campaigns/<slug:slug>/pledge/sent/", views.pledge_sent, name="sent"),
    path("pledges/confirm/<str:token>/", views.pledge_confirm, name="confirm"),
    path("pledges/<str:public_id>/", views.pledge_detail, name="detail"),
]
