from __future__ import annotations

from django.urls import path

from reminders import views

app_name = "reminders"

urlpatterns = [
    path("campaigns/<slug:slug>/remind-me/", views.signup_create, name="signup"),
    path("campaigns/<slug:slug>/remind-me/sent/", views.signup_sent, name="signup-sent"),
    path("reminders/confirm/<str:token>/", views.signup_confirm, name="confirm"),
    path("reminders/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("reminders/stop-all/<str:token>/", views.stop_all, name="stop-all"),
    path("reminders/follow-through/stop/<str:token>/", views.follow_through_stop, name="follow-through-stop"),
]
